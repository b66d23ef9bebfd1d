"""Frozen pretrained encoders behind a registry keyed by name.

Importing this package registers the built-in encoders.
"""

from models.encoders import blip_captioner, open_clip_encoder, videoprism  # noqa: F401  (registration)
from models.encoders.registry import available, build_encoder

__all__ = ["available", "build_encoder"]
