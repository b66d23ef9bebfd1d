"""Macro F1 of a binary task, the DVD violence track's score: the mean of the F1 of the violent
class and the F1 of the non-violent class, over all frames pooled (not averaged per video).

A frame is called violent when its probability is above the threshold (``p > threshold``, as
torchmetrics binarises). ``best_macro_f1`` finds the threshold that maximises the score on given
predictions, in one pass over them sorted (every distinct probability is a candidate cut).
"""

from __future__ import annotations

import torch


def _f1(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    """F1 from counts; 0 where the class is neither predicted nor present (torchmetrics' rule)."""
    denominator = 2 * tp + fp + fn
    return torch.where(denominator > 0, 2 * tp / denominator.clamp(min=1), torch.zeros_like(denominator))


def binary_macro_f1(preds: torch.Tensor, targets: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Probabilities (N,) and 0/1 targets (N,) -> the macro F1 over the two classes."""
    predicted, actual = preds > threshold, targets > 0.5
    tp = (predicted & actual).sum().double()
    fp = (predicted & ~actual).sum().double()
    fn = (~predicted & actual).sum().double()
    tn = (~predicted & ~actual).sum().double()
    return ((_f1(tp, fp, fn) + _f1(tn, fn, fp)) / 2).float()


def best_macro_f1(preds: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(the highest macro F1 any threshold gives, that threshold). Of equal scores, the cut
    nearest 0.5 is taken. A frame is violent at the returned threshold when ``p > threshold``."""
    order = torch.argsort(preds, descending=True)
    values, actual = preds[order].double(), (targets[order] > 0.5).double()
    positives, count = actual.sum(), len(actual)
    # cut k: the k highest probabilities called violent; only cuts between distinct values
    tp = torch.cat([actual.new_zeros(1), actual.cumsum(0)])
    k = torch.arange(count + 1, dtype=torch.float64, device=preds.device)
    fp, fn = k - tp, positives - tp
    tn = (count - positives) - fp
    scores = (_f1(tp, fp, fn) + _f1(tn, fn, fp)) / 2
    # the threshold of cut k: the (k+1)-th highest value (p > it keeps exactly the k above);
    # below the lowest value for k = count
    below = torch.nextafter(values[-1:], values.new_tensor([-float("inf")])) if count else values.new_zeros(1)
    thresholds = torch.cat([values, below])
    distinct = torch.ones(count + 1, dtype=torch.bool, device=preds.device)
    distinct[1:count] = values[:-1] > values[1:]
    scores = torch.where(distinct, scores, scores.new_full((), -1.0))
    best = scores.max()
    candidates = torch.nonzero(scores >= best - 1e-12).flatten()
    pick = candidates[torch.argmin((thresholds[candidates] - 0.5).abs())]
    return best.float(), float(thresholds[pick])
