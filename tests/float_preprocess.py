"""Float resize, crop and normalisation written out plainly: the reference that the encoders'
uint8 preprocessing (``datamodules/resize.py``, ``models/encoders/preprocess.py``) is checked against."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def resize_and_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) float -> (N, C, size, size): short side to ``size`` (bilinear, antialiased), centre crop."""
    height, width = x.shape[-2:]
    if (height, width) == (size, size):
        return x
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return x[..., top : top + size, left : left + size]


def frames_to_tensor(
    frames: torch.Tensor,
    size: int,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> torch.Tensor:
    """(..., H, W, 3) uint8 -> (..., 3, size, size) float.

    Resizes the short side to ``size`` (bilinear, antialiased), centre-crops a square,
    scales to [0, 1] and, when given, normalises with ``mean`` / ``std``.
    """
    if frames.dtype != torch.uint8 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames shaped (..., H, W, 3), got {tuple(frames.shape)} {frames.dtype}")
    lead = frames.shape[:-3]
    height, width = frames.shape[-3:-1]
    x = resize_and_crop(frames.reshape(-1, height, width, 3).permute(0, 3, 1, 2).float().div_(255.0), size)
    if mean is not None and std is not None:
        m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = (x - m) / s
    return x.reshape(*lead, 3, size, size)
