"""Resizing decoded frames, as uint8, before they are batched: once to a short side of ``frame_size`` as they are
decoded (the aspect ratio kept), then into the square views the streams' encoders read (``datamodules/framing.py``):
``crop`` (a centred square) and ``whole`` (the whole frame squeezed to a square)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn.functional as F


def _resize(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, height, width, 3) uint8, bilinear and antialiased. Resizes in uint8: permuted to
    (N, 3, H, W) the frames are channels-last in memory, torch's fast uint8 path (within 1 grey level of float)."""
    if frames.dtype != torch.uint8:
        raise ValueError(f"expected uint8 frames, got {frames.dtype}")
    if tuple(frames.shape[1:3]) == (height, width):
        return frames
    x = F.interpolate(frames.permute(0, 3, 1, 2), size=(height, width), mode="bilinear", antialias=True,
                      align_corners=False)
    return x.permute(0, 2, 3, 1).contiguous()


def resize_short_side(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, size, W', 3) (or (N, H', size, 3) for portrait video): the short side to ``size``,
    the aspect ratio kept (the long side rounded)."""
    height, width = frames.shape[1:3]
    scale = size / min(height, width)
    return _resize(frames, max(size, round(height * scale)), max(size, round(width * scale)))


def centre_square(frames: torch.Tensor, size: int) -> torch.Tensor:
    """The centred ``size`` square of frames whose short side is ``size`` (the ``crop`` view)."""
    height, width = frames.shape[1:3]
    top, left = (height - size) // 2, (width - size) // 2
    return frames[:, top : top + size, left : left + size]


def frame_views(frames: torch.Tensor, views: Sequence[str], size: Optional[int]) -> torch.Tensor:
    """Frames resized by ``resize_short_side`` -> their ``views``, (N * V, size, size, 3): frame i's view v at row
    ``i * V + v``. Without a ``size`` frames stay as decoded, one view (each encoder resizes them itself)."""
    if size is None:
        return frames
    made = {"crop": lambda: centre_square(frames, size), "whole": lambda: _resize(frames, size, size)}
    if len(views) == 1:
        return made[views[0]]().contiguous()
    return torch.stack([made[view]() for view in views], dim=1).flatten(0, 1)
