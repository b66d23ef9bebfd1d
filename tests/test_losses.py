import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from models.losses import binary_focal_loss


@pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (0.5, 1.0), (0.8, 3.5)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torchvision(alpha, gamma, reduction):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, generator=g) * 3
    targets = (torch.rand(64, generator=g) > 0.4).float()
    expected = sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=gamma, reduction=reduction)
    assert torch.allclose(binary_focal_loss(logits, targets, alpha, gamma, reduction), expected, atol=1e-6)


def test_no_alpha_matches_torchvision_without_weighting():
    logits, targets = torch.tensor([-2.0, 0.3, 4.0]), torch.tensor([1.0, 0.0, 1.0])
    expected = sigmoid_focal_loss(logits, targets, alpha=-1, gamma=2.0, reduction="mean")
    assert torch.allclose(binary_focal_loss(logits, targets, None, 2.0), expected)


def test_gamma_zero_is_binary_cross_entropy():
    logits, targets = torch.randn(32), (torch.rand(32) > 0.5).float()
    assert torch.allclose(binary_focal_loss(logits, targets, alpha=None, gamma=0.0), F.binary_cross_entropy_with_logits(logits, targets))


def test_hand_computed_value():
    # p = sigmoid(0) = 0.5 for a positive: alpha * (1 - 0.5)^2 * log 2
    loss = binary_focal_loss(torch.zeros(1), torch.ones(1), alpha=0.25, gamma=2.0)
    assert loss.item() == pytest.approx(0.25 * 0.25 * 0.6931471805599453)


def test_the_default_alpha_keeps_a_balanced_sets_constant_prediction_at_one_half():
    from models.tasks import ViolenceTask

    targets = torch.tensor([0.0, 1.0] * 50)
    logits = torch.linspace(-3, 3, 6001)

    def best_constant(alpha):
        losses = torch.stack([binary_focal_loss(torch.full_like(targets, z), targets, alpha, 2.0) for z in logits])
        return float(torch.sigmoid(logits[losses.argmin()]))

    assert ViolenceTask().focal_alpha == 0.5
    assert best_constant(0.5) == pytest.approx(0.5, abs=1e-3)
    assert best_constant(0.25) < 0.45  # what the detection default did: everything leans calm
