"""Binary focal loss (Lin et al., 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def binary_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float | None = 0.25, gamma: float = 2.0,
                      reduction: str = "mean") -> torch.Tensor:
    """FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t), from logits. ``alpha`` weighs positives (1 - alpha weighs
    negatives); ``None`` disables weighting. With ``gamma = 0`` and ``alpha = None`` it is binary cross-entropy."""
    targets = targets.to(logits.dtype)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"unknown reduction {reduction!r}; choose mean, sum or none")
