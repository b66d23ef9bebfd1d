"""Feature-level augmentation of the stream features (the paper's regularisers), training only."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FeatureAugmentation(nn.Module):
    """Applied to ``{stream: (B, T, d)}`` features in training mode; the identity in eval mode.

    Args:
        noise_std: Gaussian noise, as a fraction of each feature dimension's standard deviation over the
            batch's windows and time steps (one dimension's scale says nothing of another's).
        feature_dropout: probability of zeroing each feature value (inverted dropout).
        temporal_mask: probability of zeroing each time step of a stream.
        modality_dropout: probability of zeroing a whole stream of a window (a window keeps at least one).
    """

    def __init__(self, noise_std: float = 0.0, feature_dropout: float = 0.0, temporal_mask: float = 0.0,
                 modality_dropout: float = 0.0):
        super().__init__()
        for name, value in (("feature_dropout", feature_dropout), ("temporal_mask", temporal_mask),
                            ("modality_dropout", modality_dropout)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        self.noise_std, self.feature_dropout = noise_std, feature_dropout
        self.temporal_mask, self.modality_dropout = temporal_mask, modality_dropout

    @property
    def active(self) -> bool:
        return self.training and any((self.noise_std, self.feature_dropout, self.temporal_mask, self.modality_dropout))

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not self.active:
            return features
        out = {}
        for name, x in features.items():
            if self.noise_std:
                x = x + torch.randn_like(x) * x.std(dim=(0, 1), keepdim=True) * self.noise_std
            if self.feature_dropout:
                x = F.dropout(x, self.feature_dropout, training=True)
            if self.temporal_mask:
                x = x * (torch.rand(x.shape[0], x.shape[1], 1, device=x.device) >= self.temporal_mask)
            out[name] = x
        if self.modality_dropout:
            names = list(out)
            batch = next(iter(out.values())).shape[0]
            device = next(iter(out.values())).device
            keep = torch.rand(batch, len(names), device=device) >= self.modality_dropout
            lost_all = (~keep.any(dim=1)).nonzero().squeeze(1)  # such a window keeps one stream, at random
            keep[lost_all, torch.randint(len(names), (len(lost_all),), device=device)] = True
            out = {name: out[name] * keep[:, i].view(-1, 1, 1) for i, name in enumerate(names)}
        return out


def mixup(embedding: torch.Tensor, target: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each window's fused embedding and target with another window's, weight ~ Beta(alpha, alpha)."""
    weight = torch.distributions.Beta(alpha, alpha).sample().to(embedding.device)
    order = torch.randperm(embedding.shape[0], device=embedding.device)
    return weight * embedding + (1 - weight) * embedding[order], weight * target + (1 - weight) * target[order]
