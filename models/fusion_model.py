"""The trainable model: one GRU per stream, a fusion block (``models/fusion.py``), an MLP head."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

import torch
from torch import nn

from datamodules.batch import STREAMS
from lightning_app.errors import ConfigError
from models.fusion import FusionKind, FusionMode, build_fusion
from models.heads import MLPHead
from models.step_mask import step_mask
from models.stream_encoder import InputNorm, StreamGRU


class StreamFusionModel(nn.Module):
    """Feature sequences of ``streams`` -> (B, num_outputs) logits; ``streams=[video]`` is the video-only ablation."""

    def __init__(
        self,
        dims: Mapping[str, int],
        num_outputs: int = 1,
        streams: Sequence[str] = STREAMS,
        hidden_dim: int = 128,
        input_norm: InputNorm = "layer",
        bidirectional: bool = False,
        fusion: FusionKind = "cross_attention",
        fusion_mode: FusionMode = "sequence",
        num_heads: int = 1,
        dropout: float = 0.1,
        fusion_residual: bool = False,
    ):
        """``dims``: each stream's feature size; then the GRUs' settings, the fusion block's
        (kind, mode, heads) and the head's dropout."""
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
        self.streams = nn.ModuleDict({name: StreamGRU(dims[name], hidden_dim, input_norm)
                                      for name in self.stream_names})
        self.fusion = build_fusion(fusion, hidden_dim, self.stream_names, num_heads, fusion_mode, bidirectional,
                                   residual=fusion_residual)
        self.out_dim = self.fusion.out_dim
        self.head = MLPHead(self.out_dim, hidden_dim, num_outputs, dropout)

    def fuse(self, features: Mapping[str, torch.Tensor], lengths: Optional[Mapping[str, torch.Tensor]] = None
             ) -> torch.Tensor:
        """The fused embedding h, (B, out_dim). ``lengths``: per stream, (B,) real steps of each window
        (``datamodules.batch``'s ``stream_lengths``); the steps after them are padding, masked throughout."""
        masks = {name: step_mask(lengths.get(name) if lengths else None, features[name].shape[1])
                 for name in self.stream_names}
        return self.fusion({name: self.streams[name](features[name], masks[name]) for name in self.stream_names},
                           masks)

    def forward(self, features: Mapping[str, torch.Tensor],
                lengths: Optional[Mapping[str, torch.Tensor]] = None) -> torch.Tensor:
        return self.head(self.fuse(features, lengths))
