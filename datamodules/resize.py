"""Resizing decoded frames once, as uint8, before they are batched: short side, centre crop."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_short_side(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, size, size, 3) uint8: short side to ``size`` (bilinear,
    antialiased), centre-cropped square. Resizes in uint8: permuted to (N, 3, H, W) the frames are
    channels-last in memory, torch's fast uint8 path (within 1 grey level of float)."""
    if frames.dtype != torch.uint8:
        raise ValueError(f"expected uint8 frames, got {frames.dtype}")
    height, width = frames.shape[1:3]
    if (height, width) == (size, size):
        return frames
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    x = F.interpolate(frames.permute(0, 3, 1, 2), size=(new_h, new_w), mode="bilinear", antialias=True,
                      align_corners=False)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return x[..., top : top + size, left : left + size].permute(0, 2, 3, 1).contiguous()
