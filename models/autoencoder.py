"""The autoencoding branch: reconstruct each stream's features from the fused embedding."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn


class StreamReconstructor(nn.Module):
    """One small MLP per stream, fused embedding -> the stream's window summary: its features averaged over time,
    layer-normalised (so streams of different scales weigh alike) and detached."""

    def __init__(self, in_dim: int, dims: Mapping[str, int], hidden_dim: int = 128):
        super().__init__()
        self.decoders = nn.ModuleDict({
            name: nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim))
            for name, dim in dims.items()
        })

    @staticmethod
    def targets(features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: F.layer_norm(x.mean(dim=1), x.shape[-1:]).detach() for name, x in features.items()}

    def loss(self, embedding: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mean over streams of the MSE between reconstruction and target."""
        targets = self.targets(features)
        losses = [F.mse_loss(self.decoders[name](embedding), targets[name]) for name in self.decoders]
        return torch.stack(losses).mean()
