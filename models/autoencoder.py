"""The autoencoding branch: reconstruct each stream's features from the fused embedding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from models.step_mask import masked_mean, step_mask


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
    def targets(features: Mapping[str, torch.Tensor],
                lengths: Optional[Mapping[str, torch.Tensor]] = None) -> dict[str, torch.Tensor]:
        """Per stream, the mean of its real steps (``lengths``, as the fusion model takes them), layer-normalised."""
        return {name: F.layer_norm(masked_mean(x, step_mask(lengths.get(name) if lengths else None, x.shape[1])),
                                   x.shape[-1:]).detach()
                for name, x in features.items()}

    def loss(self, embedding: torch.Tensor, features: Mapping[str, torch.Tensor],
             lengths: Optional[Mapping[str, torch.Tensor]] = None) -> torch.Tensor:
        """Mean over streams of the MSE between reconstruction and target."""
        targets = self.targets(features, lengths)
        losses = [F.mse_loss(self.decoders[name](embedding), targets[name]) for name in self.decoders]
        return torch.stack(losses).mean()
