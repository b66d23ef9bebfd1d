"""Frozen pretrained encoders behind a registry keyed by name; importing this package registers the built-in ones
(``docs/encoders.md`` lists them)."""

from models.encoders import (  # noqa: F401  (registration)
    blip2_captioner, blip_captioner, captions_file, florence2_captioner, open_clip_encoder, smolvlm_captioner, videomae,
    videoprism, vjepa2,
)
from models.encoders.registry import available, build_encoder

__all__ = ["available", "build_encoder"]
