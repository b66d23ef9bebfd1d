"""The frozen part of the model: video, CLIP and captioner encoders, run without gradients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from models.encoders import build_encoder


class FrozenFeatureExtractor(nn.Module):
    """Raw window frames -> the three feature sequences the GRUs read.

    * video: (B, Tv, H, W, 3) uint8 -> (B, Tv, d_v) through the video encoder;
    * image: (B, Ti, H, W, 3) uint8 -> (B, Ti, d_i) through the CLIP image tower;
    * text:  (B, Tt, H, W, 3) uint8 -> captions -> (B, Tt, d_t) through the CLIP text tower.

    All parameters are frozen and the module stays in eval mode whatever ``train()`` asks.
    Features are computed under ``torch.inference_mode()`` and cloned on the way out, so the
    trainable layers that read them can save them for backward.
    """

    def __init__(self, video_encoder: Mapping[str, Any], clip_encoder: Mapping[str, Any], captioner: Mapping[str, Any]):
        super().__init__()
        self.video = build_encoder("video", video_encoder, "model.video_encoder")
        self.clip = build_encoder("clip", clip_encoder, "model.clip_encoder")
        self.captioner = build_encoder("captioner", captioner, "model.captioner")
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FrozenFeatureExtractor":
        return super().train(False)

    @property
    def dims(self) -> dict[str, int]:
        return {"video": self.video.out_dim, "image": self.clip.out_dim, "text": self.clip.out_dim}

    @torch.inference_mode()
    def _extract(self, video: torch.Tensor, image: torch.Tensor, text: torch.Tensor):
        batch, text_steps = text.shape[:2]
        captions = self.captioner(text.reshape(-1, *text.shape[2:]))
        features = {
            "video": self.video(video).float(),
            "image": self.clip.encode_frames(image).float(),
            "text": self.clip.encode_texts(captions).float().reshape(batch, text_steps, -1),
        }
        grouped = [captions[i * text_steps : (i + 1) * text_steps] for i in range(batch)]
        return features, grouped

    def forward(self, video: torch.Tensor, image: torch.Tensor, text: torch.Tensor):
        """Returns (features by stream, captions as one list of strings per window)."""
        features, captions = self._extract(video, image, text)
        return {name: value.clone() for name, value in features.items()}, captions
