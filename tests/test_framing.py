"""The framing table against the encoders' own preprocessing, and how --data.framing resolves."""

import pytest

from datamodules.framing import ENCODER_FRAMING, resolve_framing
from datamodules.windows import WindowSpec
from lightning_app.errors import ConfigError


def test_every_registered_encoder_has_a_framing_and_the_table_no_other():
    from models.encoders.registry import _FACTORIES

    registered = {name for factories in _FACTORIES.values() for name in factories}
    assert registered == set(ENCODER_FRAMING)


def _framing_of(encoder) -> str:
    """What the encoder's own preprocessing does with a frame: a centre crop, or the whole frame."""
    from models.encoders.preprocess import FrameTransform

    transform = getattr(encoder, "transform", None)
    if isinstance(transform, FrameTransform):
        return "crop" if transform.crop is not None else "whole"
    image_processor = encoder.processor.image_processor  # a captioner's Hugging Face processor
    return "crop" if getattr(image_processor, "do_center_crop", False) else "whole"


@pytest.mark.parametrize("name", sorted(n for n in ENCODER_FRAMING if n.endswith("-tiny")))
def test_the_table_says_what_each_encoders_preprocessing_does(name):
    # the tiny encoders preprocess as their real ones (the same transforms and processor classes)
    from models.encoders.registry import _FACTORIES

    factory = next(factories[name] for factories in _FACTORIES.values() if name in factories)
    assert _framing_of(factory()) == ENCODER_FRAMING[name]


def test_encoders_framing_follows_each_streams_encoder():
    paper = {"video": {"name": "videoprism"}, "clip": {"name": "open_clip"}, "captioner": {"name": "blip"}}
    assert resolve_framing("encoders", paper) == {"video": "whole", "image": "crop", "text": "whole"}
    from_file = dict(paper, video={"name": "videomae"}, captioner={"name": "captions-file", "path": "c.csv"})
    assert resolve_framing("encoders", from_file) == {"video": "crop", "image": "crop", "text": "crop"}
    mine = dict(paper, video={"name": "my-own-encoder"})  # not in the table: the centre crop of before
    assert resolve_framing("encoders", mine)["video"] == "crop"
    assert resolve_framing("whole", paper) == {"video": "whole", "image": "whole", "text": "whole"}
    assert resolve_framing("encoders", None) == {"video": "crop", "image": "crop", "text": "crop"}
    with pytest.raises(ConfigError, match="--data.framing"):
        resolve_framing("letterbox", paper)


def test_specs_saved_before_framing_read_as_crops():
    settings = {"window": 64, "stride": 32, "frame_size": 224, "video_frames": 16, "image_frames": 16, "text_frames": 4}
    encoders = {"video": {"name": "videoprism"}, "clip": {"name": "open_clip"}, "captioner": {"name": "blip"}}
    assert WindowSpec.from_settings(settings, encoders).views == ("crop",)
    spec = WindowSpec.from_settings(dict(settings, framing="encoders"), encoders)
    assert spec.views == ("crop", "whole") and spec.view_of("video") == 1 and spec.view_of("image") == 0
