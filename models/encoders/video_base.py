"""Shared parts of the video encoders: (B, T, H, W, 3) uint8 frames -> (B, T, D) per-frame features."""

from __future__ import annotations

import logging

import torch
from torch import nn

from lightning_app.errors import ConfigError
from models.encoders.base import FrozenEncoder
from models.encoders.preprocess import FrameTransform

log = logging.getLogger(__name__)


def pad_frames(frames: torch.Tensor, multiple: int) -> torch.Tensor:
    """(B, T, ...) -> (B, T', ...) with T' the next multiple of ``multiple``, repeating the last frame."""
    steps = frames.shape[1]
    missing = -steps % multiple
    if missing == 0:
        return frames
    return torch.cat([frames, frames[:, -1:].expand(-1, missing, *frames.shape[2:])], dim=1)


def tubelet_features(tokens: torch.Tensor, steps: int, tubelet: int) -> torch.Tensor:
    """Per-frame features from the tokens of a tubelet model.

    ``tokens`` is (B, T' / tubelet * h * w, D), time-major (all spatial tokens of the first
    tubelet, then the next: the order a Conv3d patch embedding flattens to). Each tubelet's
    h * w tokens are averaged, and the result is repeated for the ``tubelet`` frames it
    covers; the first ``steps`` frames are returned, (B, steps, D).
    """
    batch, count, dim = tokens.shape
    slots = -(-steps // tubelet)
    if count % slots:
        raise ValueError(f"{count} tokens do not split into {slots} tubelets")
    pooled = tokens.reshape(batch, slots, count // slots, dim).mean(dim=2)
    return pooled.repeat_interleave(tubelet, dim=1)[:, :steps]


def processor_transform(load_processor, fallback: FrameTransform, what: str) -> FrameTransform:
    """The transform a checkpoint's saved processor describes, or ``fallback`` if it has none."""
    try:
        return FrameTransform.from_hf_processor(load_processor())
    except (ConfigError, OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("%s: no usable preprocessor config with the weights (%s); using %s", what, exc, fallback)
        return fallback


class VideoEncoder(FrozenEncoder):
    """Base of the video encoders. Subclasses set ``self.transform`` and implement
    ``features(pixels)``: (B, T, 3, h, w) in the model's dtype -> (B, T, D)."""

    def __init__(self, model: nn.Module, transform: FrameTransform, out_dim: int, dtype: str, what: str):
        super().__init__(model, dtype, what)
        self.transform = transform
        self.out_dim = int(out_dim)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W, 3) uint8 -> (B, T, 3, h, w) float32, on the frames' device."""
        return self.transform(frames)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.ndim != 5:
            raise ValueError(f"expected frames shaped (B, T, H, W, 3), got {tuple(frames.shape)}")
        self.settle_dtype()
        frames = frames.to(self.device, non_blocking=True)
        with self.autocast_off():
            pixels = self.preprocess(frames).to(self.model_dtype)
            return self.features(pixels).float()
