"""Shared parts of the video encoders: (B, T, H, W, 3) uint8 frames -> (B, T, D) per-frame features."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from lightning_app.errors import ConfigError
from models.encoders.base import FrozenEncoder
from models.encoders.preprocess import FrameTransform
from models.encoders.weights import load_offline

WHAT = "model.video_encoder"

log = logging.getLogger(__name__)


def pad_frames(frames: torch.Tensor, multiple: int) -> torch.Tensor:
    """(B, T, ...) -> (B, T', ...) with T' the next multiple of ``multiple``, repeating the last frame."""
    steps = frames.shape[1]
    missing = -steps % multiple
    if missing == 0:
        return frames
    return torch.cat([frames, frames[:, -1:].expand(-1, missing, *frames.shape[2:])], dim=1)


def tubelet_features(tokens: torch.Tensor, steps: int, tubelet: int) -> torch.Tensor:
    """Per-frame features (B, steps, D) from the tokens of a tubelet model, (B, T' / tubelet * h * w, D) time-major
    (the order a Conv3d patch embedding flattens to): each tubelet's h * w tokens are averaged and the result is
    repeated for the ``tubelet`` frames it covers, so frames 2k and 2k+1 of a 2-frame tubelet get the same feature."""
    batch, count, dim = tokens.shape
    slots = -(-steps // tubelet)
    if count % slots:
        raise ValueError(f"{count} tokens do not split into {slots} tubelets")
    pooled = tokens.reshape(batch, slots, count // slots, dim).mean(dim=2)
    return pooled.repeat_interleave(tubelet, dim=1)[:, :steps]


def load_pretrained(pretrained: str, allow_download: bool, load_model, load_processor, model_desc: str,
                    fallback: Callable[[Any], FrameTransform]) -> tuple[nn.Module, FrameTransform]:
    """A pretrained video model in eval mode, loaded offline (``weights.load_offline``), and the
    transform its saved processor describes, or ``fallback(model.config)`` when it has none."""
    model = load_offline(WHAT, pretrained, load_model, allow_download, model_desc)
    try:
        processor = load_offline(WHAT, pretrained, load_processor, allow_download, model_desc, "processor")
        transform = FrameTransform.from_hf_processor(processor)
    except (ConfigError, OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        transform = fallback(model.config)
        log.warning("%s: no usable preprocessor config with the weights (%s); using %s", WHAT, exc, transform)
    return model.eval(), transform


class VideoEncoder(FrozenEncoder):
    """Base of the video encoders: subclasses implement ``features(pixels)``, (B, T, 3, h, w) in the model's dtype
    -> (B, T, D)."""

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
