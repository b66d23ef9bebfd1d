"""One GRU per stream, with a choice of input normalisation."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

InputNorm = Literal["none", "layer", "center"]


class WindowCentering(nn.Module):
    """Subtract each window's temporal mean, then standardise features with running statistics: keeps only how
    features change inside a window, for signals carried by change (motion, flashes) rather than by what it shows."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(dim, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=1, keepdim=True)
        return self.norm(centred.transpose(1, 2)).transpose(1, 2)


def make_input_norm(kind: InputNorm, dim: int) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    if kind == "layer":
        return nn.LayerNorm(dim)
    if kind == "center":
        return WindowCentering(dim)
    raise ValueError(f"unknown input norm {kind!r}; choose none, layer or center")


class StreamGRU(nn.Module):
    """(B, T, d_in) features -> (outputs (B, T, d_h), final state (B, d_h)): a 1-layer GRU."""

    def __init__(self, in_dim: int, hidden_dim: int, input_norm: InputNorm = "layer"):
        super().__init__()
        self.norm = make_input_norm(input_norm, in_dim)
        self.gru = nn.GRU(in_dim, hidden_dim, batch_first=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, state = self.gru(self.norm(x))
        return outputs, state[-1]
