"""Resizing decoded frames once, as uint8, before they are batched: short side, centre crop."""

from __future__ import annotations

import torch

from models.encoders.preprocess import resize_and_crop


def resize_short_side(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, size, size, 3) uint8: short side to ``size``, centre-cropped square."""
    if tuple(frames.shape[1:3]) == (size, size):
        return frames
    x = resize_and_crop(frames.permute(0, 3, 1, 2).float(), size)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
