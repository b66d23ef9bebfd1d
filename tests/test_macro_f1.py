"""The DVD track's frame macro F1 and its best threshold, against scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from models.macro_f1 import best_macro_f1, binary_macro_f1


def _data(n, seed, ties=False):
    rng = np.random.default_rng(seed)
    targets = (rng.random(n) < 0.3).astype(np.float32)
    preds = np.clip(0.35 * targets + rng.random(n) * 0.7, 0, 1).astype(np.float32)
    if ties:
        preds = np.round(preds, 1)
    return torch.from_numpy(preds), torch.from_numpy(targets)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.63])
def test_macro_f1_is_scikit_learns(seed, threshold):
    preds, targets = _data(500, seed)
    expected = f1_score(targets.numpy().astype(int), (preds.numpy() > threshold).astype(int), average="macro")
    assert float(binary_macro_f1(preds, targets, threshold)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 3])
def test_best_threshold_is_the_best_of_every_cut(seed, ties):
    preds, targets = _data(300, seed, ties)
    score, threshold = best_macro_f1(preds, targets)
    y = targets.numpy().astype(int)
    cuts = np.concatenate([np.unique(preds.numpy()), [-1.0]])
    brute = max(f1_score(y, (preds.numpy() > c).astype(int), average="macro", zero_division=0) for c in cuts)
    assert float(score) == pytest.approx(brute, abs=1e-6)
    # the threshold it returns gives that score
    assert float(binary_macro_f1(preds, targets, threshold)) == pytest.approx(brute, abs=1e-6)


def test_perfect_and_constant_predictions():
    targets = torch.tensor([0.0, 0, 1, 1, 0, 1])
    preds = torch.tensor([0.1, 0.2, 0.9, 0.8, 0.3, 0.7])
    score, threshold = best_macro_f1(preds, targets)
    assert float(score) == 1.0 and 0.3 <= threshold < 0.7
    assert float(binary_macro_f1(preds, targets, 0.5)) == 1.0
    # all called non-violent: F1 of the violent class is 0, of the other 6/9 -> mean 1/3
    assert float(binary_macro_f1(preds, targets, 0.95)) == pytest.approx((0 + 2 * 3 / (2 * 3 + 3)) / 2)
