"""What part of a frame each stream's encoder sees (its *framing*), as its own processor would give it:

* ``crop``: the short side resized to ``frame_size``, then a centred square (CLIP's processor, VideoMAE's, V-JEPA 2's);
* ``whole``: the whole frame resized to a ``frame_size`` square, the aspect ratio given up (VideoPrism's
  preprocessing, BLIP's, BLIP-2's and the other captioners' processors), so nothing at the sides is lost (on 16:9
  video a centre crop loses 44 % of the width).

``--data.framing encoders`` (the default) gives each stream the framing of the encoder that reads it (video: the
video encoder, image: the CLIP model, text: the captioner), from ``ENCODER_FRAMING``; ``crop`` or ``whole`` gives
all three the same. The framing is part of the window spec, so it keys the feature cache. Pure data, no encoder is
built (importing the encoders takes seconds): ``tests/test_framing.py`` checks the table against the encoders'
own transforms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Optional

from lightning_app.errors import ConfigError

FramingSetting = Literal["encoders", "crop", "whole"]
VIEWS = ("crop", "whole")

# registered encoder name -> the framing its processor applies; None: it reads no frames (a captions file)
ENCODER_FRAMING: dict[str, Optional[str]] = {
    "videoprism": "whole", "videoprism-tiny": "whole",
    "videomae": "crop", "videomae-tiny": "crop",
    "vjepa2": "crop", "vjepa2-tiny": "crop",
    "open_clip": "crop", "clip-tiny": "crop",
    "blip": "whole", "blip-tiny": "whole", "blip2": "whole", "blip2-tiny": "whole",
    "instructblip": "whole", "instructblip-tiny": "whole", "florence2": "whole", "florence2-tiny": "whole",
    "smolvlm": "whole", "smolvlm-tiny": "whole",
    "captions-file": None,
}
# which encoder reads each stream
STREAM_ENCODER = {"video": "video", "image": "clip", "text": "captioner"}


def resolve_framing(setting: str, encoders: Optional[Mapping[str, Mapping[str, Any]]]) -> dict[str, str]:
    """Each stream's framing for ``--data.framing`` and the model's encoder specs (by role). An encoder this table
    does not know (one registered by a user) gets ``crop``; a stream whose encoder reads no frames takes the image
    stream's view, so it costs no second resize."""
    if setting in VIEWS:
        return {stream: setting for stream in STREAM_ENCODER}
    if setting != "encoders":
        raise ConfigError(f"--data.framing: unknown {setting!r}; choose encoders, crop or whole")
    named = {stream: (encoders or {}).get(role, {}).get("name") for stream, role in STREAM_ENCODER.items()}
    framing = {stream: ENCODER_FRAMING.get(name, "crop") for stream, name in named.items()}
    return {stream: view or framing["image"] or "crop" for stream, view in framing.items()}
