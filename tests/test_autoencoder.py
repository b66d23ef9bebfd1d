import torch

from models.autoencoder import StreamReconstructor


def test_reconstruction_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    dims = {"video": 12, "image": 10, "text": 10}
    features = {"video": torch.randn(8, 16, 12), "image": torch.randn(8, 16, 10), "text": torch.randn(8, 4, 10)}
    embedding = torch.randn(8, 24)
    model = StreamReconstructor(24, dims, hidden_dim=32)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(embedding, features).item()
    for _ in range(100):
        loss = model.loss(embedding, features)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.2 * first


def test_targets_are_normalised_window_means():
    features = {"video": torch.randn(2, 5, 6) * 10 + 3}
    target = StreamReconstructor.targets(features)["video"]
    assert target.shape == (2, 6) and torch.allclose(target.mean(dim=1), torch.zeros(2), atol=1e-5)
