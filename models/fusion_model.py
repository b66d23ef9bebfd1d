"""The trainable model: one GRU per stream, a fusion block, an MLP head.

Fusion variants (``fusion``), for the paper's method and its ablations:

* ``cross_attention``: the paper's image -> video and image -> text attention
  (``models/fusion.py``); needs all three streams.
* ``concat``: the streams' final GRU states, concatenated (naive fusion).
* ``mean_pool``: the streams' GRU outputs averaged over time, concatenated (no attention).

``streams`` picks which streams the model reads (``[video]`` is "video only": one GRU + head).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import nn

from datamodules.batch import STREAMS
from lightning_app.errors import ConfigError
from models.fusion import CrossAttentionFusion, FusionMode
from models.heads import MLPHead
from models.stream_encoder import InputNorm, StreamGRU

Fusion = Literal["cross_attention", "concat", "mean_pool"]


class CrossAttentiveGRU(nn.Module):
    """Feature sequences {video, image, text} -> (B, num_outputs) predictions (logits)."""

    def __init__(
        self,
        dims: Mapping[str, int],
        hidden_dim: int = 128,
        num_heads: int = 1,
        fusion_mode: FusionMode = "sequence",
        bidirectional: bool = False,
        input_norm: InputNorm = "layer",
        dropout: float = 0.1,
        num_outputs: int = 1,
        fusion: Fusion = "cross_attention",
        streams: Sequence[str] = STREAMS,
    ):
        super().__init__()
        self.stream_names = tuple(streams)
        unknown = set(self.stream_names) - set(STREAMS)
        if unknown or not self.stream_names:
            raise ConfigError(f"model.streams must be a non-empty subset of {list(STREAMS)}, got {list(streams)}")
        if fusion == "cross_attention" and set(self.stream_names) != set(STREAMS):
            raise ConfigError(f"model.fusion cross_attention needs all three streams, got {list(streams)}; "
                              "use concat or mean_pool for a subset")
        self.fusion_kind = fusion
        self.streams = nn.ModuleDict({name: StreamGRU(dims[name], hidden_dim, input_norm) for name in self.stream_names})
        if fusion == "cross_attention":
            self.fusion = CrossAttentionFusion(hidden_dim, num_heads, fusion_mode, bidirectional)
            self.out_dim = self.fusion.out_dim
        elif fusion in ("concat", "mean_pool"):
            self.fusion = None
            self.out_dim = hidden_dim * len(self.stream_names)
        else:
            raise ConfigError(f"model.fusion: unknown {fusion!r}; choose cross_attention, concat or mean_pool")
        self.head = MLPHead(self.out_dim, hidden_dim, num_outputs, dropout)

    def fuse(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The fused embedding h, (B, out_dim)."""
        encoded = {name: self.streams[name](features[name]) for name in self.stream_names}
        if self.fusion is not None:
            return self.fusion(encoded)
        if self.fusion_kind == "concat":
            return torch.cat([encoded[name][1] for name in self.stream_names], dim=-1)
        return torch.cat([encoded[name][0].mean(dim=1) for name in self.stream_names], dim=-1)

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.fuse(features))
