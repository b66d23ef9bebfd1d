"""Prediction heads on the fused embedding."""

from __future__ import annotations

from torch import nn


class MLPHead(nn.Module):
    """A shallow MLP: in_dim -> hidden_dim -> out_dim (1 logit for binary classification)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int = 1, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden_dim, out_dim))

    def forward(self, x):
        return self.net(x)
