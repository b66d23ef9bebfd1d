"""Lin's concordance correlation coefficient and the CCC loss used on Aff-Wild2.

CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2), with population (1/n) moments as Lin (1989) and
the Aff-Wild2 challenge define it; the frame scores (``frame_ccc``, the challenge's number) use it. torchmetrics'
``concordance_corrcoef`` (the window scores, ``ccc``) divides the variances and the covariance by n - 1 but not the
squared mean difference; the two differ by O(1/n).
"""

from __future__ import annotations

import torch


def concordance_cc(preds: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """CCC of each column of (N, C) predictions against (N, C) targets -> (C,), in float64 if
    either is, else float32."""
    dtype = torch.float64 if torch.float64 in (preds.dtype, target.dtype) else torch.float32
    preds, target = preds.to(dtype), target.to(dtype)
    mean_p, mean_t = preds.mean(0), target.mean(0)
    var_p = ((preds - mean_p) ** 2).mean(0)
    var_t = ((target - mean_t) ** 2).mean(0)
    cov = ((preds - mean_p) * (target - mean_t)).mean(0)
    return 2 * cov / (var_p + var_t + (mean_p - mean_t) ** 2 + eps)


def ccc_loss(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - mean CCC over the columns (valence, arousal), computed over the batch."""
    return 1.0 - concordance_cc(preds, target).mean()
