"""Frame preprocessing shared by the encoders: uint8 RGB frames -> normalised float tensors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

# The mean / std OpenAI CLIP (and BLIP) were trained with.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


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


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's CPU RNG seeded, leaving the caller's RNG state untouched.

    Tiny encoders are built inside it, so the same seed gives the same weights in every
    process: a checkpoint need not carry them to restore the model that was trained.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
