import pytest
import torch

from lightning_app.errors import ConfigError
from models.encoders import available, build_encoder
from models.encoders.preprocess import CLIP_MEAN, CLIP_STD
from tests.float_preprocess import frames_to_tensor


def _frames(*shape, seed=0):
    return torch.randint(0, 256, (*shape, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_registry_lists_the_built_in_encoders():
    assert {"videoprism-tiny", "videoprism"} <= set(available("video"))
    assert {"clip-tiny", "open_clip"} <= set(available("clip"))
    assert {"blip-tiny", "blip"} <= set(available("captioner"))


def test_unknown_name_and_option_are_config_errors():
    with pytest.raises(ConfigError, match=r"model.video_encoder.name: unknown video encoder 'videoprizm'.*videoprism-tiny"):
        build_encoder("video", {"name": "videoprizm"}, "model.video_encoder")
    with pytest.raises(ConfigError, match=r"takes no option\(s\) colour"):
        build_encoder("clip", {"name": "clip-tiny", "colour": 1}, "model.clip_encoder")
    with pytest.raises(ConfigError, match="'name' key"):
        build_encoder("captioner", {"seed": 1}, "model.captioner")


def test_missing_real_weights_give_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ConfigError, match=r"model.video_encoder: weights folder .*not-here does not exist"):
        build_encoder("video", {"name": "videoprism", "pretrained": str(tmp_path / "not-here")}, "model.video_encoder")
    with pytest.raises(ConfigError, match=r"model.captioner: weights 'someone/blip-x' are neither .* `hf download someone/blip-x`"):
        build_encoder("captioner", {"name": "blip", "pretrained": "someone/blip-x"}, "model.captioner")
    with pytest.raises(ConfigError, match=r"model.clip_encoder: weights 'ViT-B-16/openai' are neither .* `hf download timm/"):
        build_encoder("clip", {"name": "open_clip", "pretrained": "openai"}, "model.clip_encoder")
    with pytest.raises(ConfigError, match="not a local checkpoint file"):
        build_encoder("clip", {"name": "open_clip", "pretrained": str(tmp_path / "open_clip.bin")}, "model.clip_encoder")


def test_tiny_encoders_are_deterministic_per_seed():
    a = build_encoder("video", {"name": "videoprism-tiny", "seed": 0}, "k")
    b = build_encoder("video", {"name": "videoprism-tiny", "seed": 0}, "k")
    c = build_encoder("video", {"name": "videoprism-tiny", "seed": 1}, "k")
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))


def test_building_an_encoder_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_encoder("clip", {"name": "clip-tiny"}, "k")
    assert torch.equal(torch.rand(3), expected)


@torch.inference_mode()
def test_output_shapes_and_dims():
    video = build_encoder("video", {"name": "videoprism-tiny"}, "k").eval()
    clip = build_encoder("clip", {"name": "clip-tiny"}, "k").eval()
    captioner = build_encoder("captioner", {"name": "blip-tiny", "max_new_tokens": 5}, "k").eval()
    assert video(_frames(2, 16, 48, 40)).shape == (2, 16, video.out_dim)
    assert clip.encode_frames(_frames(2, 16, 40, 40)).shape == (2, 16, clip.out_dim)
    captions = captioner(_frames(3, 40, 40))
    assert len(captions) == 3 and all(isinstance(c, str) and c for c in captions)
    assert clip.encode_texts(captions).shape == (3, clip.out_dim)


def test_videoprism_features_are_the_spatial_mean_of_its_tokens():
    video = build_encoder("video", {"name": "videoprism-tiny"}, "k").eval()
    frames = _frames(1, 16, 32, 32)
    with torch.inference_mode():
        tokens = video.model(pixel_values_videos=frames_to_tensor(frames, 32)).last_hidden_state
        features = video(frames)
    # frame-major tokens: 4 x 4 patches of 8 px per frame
    assert torch.allclose(features[0, 5], tokens[0, 5 * 16 : 6 * 16].mean(0), atol=1e-6)


def test_frames_to_tensor_resizes_crops_and_normalises():
    frames = torch.zeros(2, 20, 40, 3, dtype=torch.uint8)
    frames[..., 0] = 255  # pure red
    frames[:, :, :5] = 0  # black left strip: cropped away by a centre square crop
    x = frames_to_tensor(frames, 10)
    assert x.shape == (2, 3, 10, 10)
    assert torch.allclose(x[:, 0], torch.ones(2, 10, 10)) and torch.allclose(x[:, 1:], torch.zeros(2, 2, 10, 10))
    y = frames_to_tensor(frames, 10, CLIP_MEAN, CLIP_STD)
    assert torch.allclose(y[0, 0, 0, 0], torch.tensor((1 - CLIP_MEAN[0]) / CLIP_STD[0]))
    assert torch.allclose(y[0, 2, 0, 0], torch.tensor(-CLIP_MEAN[2] / CLIP_STD[2]))
