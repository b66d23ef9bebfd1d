"""Masks of the real steps of feature sequences: a short video's windows end in padding (repeats of its last
frame, ``datamodules.windows.real_steps``), which the GRUs, attention and pooling leave out."""

from __future__ import annotations

from typing import Optional

import torch


def step_mask(lengths: Optional[torch.Tensor], steps: int) -> Optional[torch.Tensor]:
    """(B, T) bool, True at each sequence's first ``lengths`` steps; None when every step is real (or no
    lengths are given), so the common case of full windows takes the unmasked path."""
    if lengths is None or bool((lengths >= steps).all()):
        return None
    return torch.arange(steps, device=lengths.device) < lengths.view(-1, 1).clamp(min=1)


def masked_mean(x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """(B, T, d) -> (B, d): the mean over the real steps (all steps when ``mask`` is None)."""
    if mask is None:
        return x.mean(dim=1)
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1)
