"""The trainable model: one GRU per stream, a fusion block, an MLP head.

The fusion block (``fusion``: ``cross_attention``, the paper's, or ``concat`` / ``mean_pool``
for its ablations) is one of the small modules in ``models/fusion.py``. ``streams`` picks which
streams the model reads (``[video]`` is "video only": one GRU + head).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from datamodules.batch import STREAMS
from lightning_app.errors import ConfigError
from models.fusion import FusionKind, FusionMode, build_fusion
from models.heads import MLPHead
from models.stream_encoder import InputNorm, StreamGRU

class StreamFusionModel(nn.Module):
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
        fusion: FusionKind = "cross_attention",
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
        if fusion not in ("cross_attention", "concat", "mean_pool"):
            raise ConfigError(f"model.fusion: unknown {fusion!r}; choose cross_attention, concat or mean_pool")
        self.streams = nn.ModuleDict({name: StreamGRU(dims[name], hidden_dim, input_norm) for name in self.stream_names})
        self.fusion = build_fusion(fusion, hidden_dim, self.stream_names, num_heads, fusion_mode, bidirectional)
        self.out_dim = self.fusion.out_dim
        self.head = MLPHead(self.out_dim, hidden_dim, num_outputs, dropout)

    def fuse(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The fused embedding h, (B, out_dim)."""
        return self.fusion({name: self.streams[name](features[name]) for name in self.stream_names})

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.fuse(features))
