import numpy as np
import pytest
import torch
from torchmetrics import ConcordanceCorrCoef

from models.ccc import ccc_loss, concordance_cc


def lin_ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin (1989), population moments, computed independently in float64 numpy."""
    sxy = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * sxy / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def _pairs(n, seed=0):
    rng = np.random.default_rng(seed)
    target = rng.uniform(-1, 1, size=(n, 2))
    preds = 0.6 * target + rng.normal(0.1, 0.3, size=(n, 2))
    return preds, target


@pytest.mark.parametrize("n", [5, 50, 2000])
def test_functional_ccc_is_lins(n):
    preds, target = _pairs(n)
    got = concordance_cc(torch.tensor(preds), torch.tensor(target))
    for column in range(2):
        assert got[column].item() == pytest.approx(lin_ccc(preds[:, column], target[:, column]), abs=1e-5)


def test_ccc_limits_and_loss():
    x = torch.linspace(-1, 1, 100).unsqueeze(1)
    assert concordance_cc(x, x).item() == pytest.approx(1.0, abs=1e-6)
    assert concordance_cc(-x, x).item() == pytest.approx(-1.0, abs=1e-6)
    assert concordance_cc(x + 0.5, x).item() < 1.0  # a shift is penalised, unlike Pearson
    preds, target = _pairs(300)
    p, t = torch.tensor(preds), torch.tensor(target)
    assert ccc_loss(p, t).item() == pytest.approx(1 - np.mean([lin_ccc(preds[:, c], target[:, c]) for c in range(2)]), abs=1e-5)


def test_torchmetrics_ccc_agrees_with_lin_up_to_its_n_minus_1_moments():
    preds, target = _pairs(2000, seed=3)
    metric = ConcordanceCorrCoef(num_outputs=2)
    for chunk in range(0, 2000, 64):  # accumulated over batches, as in an epoch
        metric.update(torch.tensor(preds[chunk:chunk + 64]).float(), torch.tensor(target[chunk:chunk + 64]).float())
    got = metric.compute()
    for column in range(2):
        assert got[column].item() == pytest.approx(lin_ccc(preds[:, column], target[:, column]), abs=2e-3)
