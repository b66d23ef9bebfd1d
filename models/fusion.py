"""Fusion blocks: each turns ``{stream: (GRU outputs (B, T, d_h), final state (B, d_h))}`` into one vector of
``out_dim``. ``build_fusion`` picks one by ``model.fusion``:

* ``cross_attention`` (``CrossAttentionFusion``, the paper's; needs all three streams): the image stream queries
  video and text, z_iv = Attention(Q = image, K = V = video), z_it = Attention(Q = image, K = V = text),
  h = [z_iv ; z_it]. Mode ``sequence`` (default) attends over the GRU output sequences and mean-pools over the query
  steps; ``final_state`` (the paper's literal form) uses one vector per stream, where attention over a single key is
  degenerate (its softmax weight is 1), so z is the projected key's value. In the paper's form no image content
  reaches h: in ``final_state`` mode the image input does not change the output at all (its GRU gets no gradient),
  in ``sequence`` mode it only steers the attention weights. ``residual`` adds the query back, z = q + Attention(q,
  K = V), the standard transformer form, so the image stream's content is in h too. ``bidirectional`` adds the
  reverse direction (video -> image, text -> image), giving 4 d_h.
* ``concat`` (``ConcatFusion``): the streams' final states, concatenated (naive fusion).
* ``mean_pool`` (``MeanPoolFusion``): the streams' outputs averaged over time, concatenated (no attention).

Each block takes the streams' step masks too (``models/step_mask.py``; None where every step is real): padded steps
are neither attended to nor averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from models.step_mask import masked_mean

Masks = Optional[dict[str, Optional[torch.Tensor]]]  # per stream, (B, T) bool (True: a real step) or None
FusionMode = Literal["sequence", "final_state"]
FusionKind = Literal["cross_attention", "concat", "mean_pool"]


class CrossAttention(nn.Module):
    """Multi-head scaled dot-product attention of ``query`` over ``context``: softmax(QK^T / sqrt(d)) V."""

    def __init__(self, dim: int, num_heads: int = 1, dropout: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, dim = x.shape
        return x.view(batch, steps, self.num_heads, dim // self.num_heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, context: torch.Tensor,
                context_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """query (B, Tq, d), context (B, Tk, d) -> (B, Tq, d); ``context_mask`` (B, Tk) bool: the steps that may be
        attended to."""
        q, k, v = self._heads(self.q_proj(query)), self._heads(self.k_proj(context)), self._heads(self.v_proj(context))
        keep = None if context_mask is None else context_mask[:, None, None, :]
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=keep,
                                                  dropout_p=self.dropout if self.training else 0.0)
        batch, _, steps, head_dim = attended.shape
        return self.out_proj(attended.transpose(1, 2).reshape(batch, steps, self.num_heads * head_dim))


class CrossAttentionFusion(nn.Module):
    """GRU outputs of the three streams -> fused vector h of ``out_dim`` = 2 d_h (4 d_h if bidirectional)."""

    def __init__(self, hidden_dim: int, num_heads: int = 1, mode: FusionMode = "sequence",
                 bidirectional: bool = False, dropout: float = 0.0, residual: bool = False):
        super().__init__()
        self.residual = residual
        if mode not in ("sequence", "final_state"):
            raise ValueError(f"unknown fusion mode {mode!r}; choose sequence or final_state")
        self.mode = mode
        self.bidirectional = bidirectional
        self.image_video = CrossAttention(hidden_dim, num_heads, dropout)
        self.image_text = CrossAttention(hidden_dim, num_heads, dropout)
        if bidirectional:
            self.video_image = CrossAttention(hidden_dim, num_heads, dropout)
            self.text_image = CrossAttention(hidden_dim, num_heads, dropout)
        self.out_dim = hidden_dim * (4 if bidirectional else 2)

    def forward(self, streams: dict[str, tuple[torch.Tensor, torch.Tensor]], masks: Masks = None) -> torch.Tensor:
        """``streams[name] = (outputs (B, T, d_h), final state (B, d_h))`` for video, image, text."""
        if self.mode == "sequence":
            seq = {name: outputs for name, (outputs, _) in streams.items()}
            masks = masks or {}
        else:  # one step per stream, the final state: nothing to mask
            seq = {name: final.unsqueeze(1) for name, (_, final) in streams.items()}
            masks = {}
        pairs = [(self.image_video, "image", "video"), (self.image_text, "image", "text")]
        if self.bidirectional:
            pairs += [(self.video_image, "video", "image"), (self.text_image, "text", "image")]
        parts = []
        for attention, query, context in pairs:
            attended = attention(seq[query], seq[context], masks.get(context))
            parts.append(masked_mean(seq[query] + attended if self.residual else attended, masks.get(query)))
        return torch.cat(parts, dim=-1)


class PerStreamFusion(nn.Module):
    """Each stream's encoding pooled to one vector (``pool``), the vectors concatenated: d_h per stream."""

    def __init__(self, hidden_dim: int, streams: Sequence[str]):
        super().__init__()
        self.stream_names = tuple(streams)
        self.out_dim = hidden_dim * len(self.stream_names)

    def pool(self, outputs: torch.Tensor, final: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, streams: dict[str, tuple[torch.Tensor, torch.Tensor]], masks: Masks = None) -> torch.Tensor:
        masks = masks or {}
        return torch.cat([self.pool(*streams[name], masks.get(name)) for name in self.stream_names], dim=-1)


class ConcatFusion(PerStreamFusion):
    """The streams' final GRU states, concatenated (naive fusion)."""

    def pool(self, outputs: torch.Tensor, final: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        return final


class MeanPoolFusion(PerStreamFusion):
    """The streams' GRU outputs averaged over time, concatenated (no attention)."""

    def pool(self, outputs: torch.Tensor, final: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        return masked_mean(outputs, mask)


def build_fusion(kind: FusionKind, hidden_dim: int, streams: Sequence[str], num_heads: int = 1,
                 mode: FusionMode = "sequence", bidirectional: bool = False, residual: bool = False) -> nn.Module:
    """The fusion block named by ``model.fusion``, for these streams."""
    if kind == "cross_attention":
        return CrossAttentionFusion(hidden_dim, num_heads, mode, bidirectional, residual=residual)
    if kind == "concat":
        return ConcatFusion(hidden_dim, streams)
    if kind == "mean_pool":
        return MeanPoolFusion(hidden_dim, streams)
    raise ValueError(f"unknown fusion {kind!r}; choose cross_attention, concat or mean_pool")
