"""One GRU per stream, with a choice of input normalisation."""

from __future__ import annotations

from typing import Literal, Optional

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.step_mask import masked_mean

InputNorm = Literal["none", "layer", "center"]


class WindowCentering(nn.Module):
    """Subtract each window's temporal mean, then standardise features with running statistics: keeps only how
    features change inside a window, for signals carried by change (motion, flashes) rather than by what it shows."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(dim, affine=False)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        centred = x - masked_mean(x, mask).unsqueeze(1)  # the mean of the real steps: padding is left out
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
    """(B, T, d_in) features -> (outputs (B, T, d_h), final state (B, d_h)): a 1-layer GRU. Given a
    step mask (``models/step_mask.py``), padded steps are not run: the final state is the last real
    step's and the outputs at padded steps are zero."""

    def __init__(self, in_dim: int, hidden_dim: int, input_norm: InputNorm = "layer"):
        super().__init__()
        self.norm = make_input_norm(input_norm, in_dim)
        self.gru = nn.GRU(in_dim, hidden_dim, batch_first=True)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.norm(x, mask) if isinstance(self.norm, WindowCentering) else self.norm(x)
        if mask is None:
            outputs, state = self.gru(x)
            return outputs, state[-1]
        # packed sequences run each window's real steps only (lengths go to the CPU, as packing wants)
        packed = pack_padded_sequence(x, mask.sum(dim=1).cpu(), batch_first=True, enforce_sorted=False)
        outputs, state = self.gru(packed)
        return pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])[0], state[-1]
