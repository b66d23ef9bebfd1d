"""The trainable model: one GRU per stream, cross-attention fusion, an MLP head."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from models.fusion import CrossAttentionFusion, FusionMode
from models.heads import MLPHead
from models.stream_encoder import InputNorm, StreamGRU

STREAMS = ("video", "image", "text")


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
    ):
        super().__init__()
        self.streams = nn.ModuleDict({name: StreamGRU(dims[name], hidden_dim, input_norm) for name in STREAMS})
        self.fusion = CrossAttentionFusion(hidden_dim, num_heads, fusion_mode, bidirectional)
        self.head = MLPHead(self.fusion.out_dim, hidden_dim, num_outputs, dropout)

    def fuse(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The fused embedding h, (B, fusion.out_dim)."""
        return self.fusion({name: self.streams[name](features[name]) for name in STREAMS})

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.fuse(features))
