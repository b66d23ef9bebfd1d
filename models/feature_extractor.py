"""The frozen part of the model: video, CLIP and captioner encoders, run without gradients."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Optional

import torch
from torch import nn

from lightning_app.errors import ConfigError
from models.frame_encoding import EncodedCounts, FrameMemo, encode_frame_streams

# (video file paths of a batch's windows, (B, Tt) frame numbers of their text-stream frames)
CaptionKeys = tuple[Sequence[str], torch.Tensor]


class FrozenFeatureExtractor(nn.Module):
    """Raw window frames -> the three feature sequences the GRUs read.

    * video: (B, Tv, H, W, 3) uint8 -> (B, Tv, d_v) through the video encoder;
    * image: (B, Ti, H, W, 3) uint8 -> (B, Ti, d_i) through the CLIP image tower;
    * text:  (B, Tt, H, W, 3) uint8 -> captions -> (B, Tt, d_t) through the CLIP text tower.

    All parameters are frozen and the module stays in eval mode whatever ``train()`` asks. Features are computed
    under ``torch.inference_mode()`` and cloned on the way out, so the trainable layers can save them for backward.
    """

    def __init__(self, video_encoder: Mapping[str, Any], clip_encoder: Mapping[str, Any], captioner: Mapping[str, Any]):
        super().__init__()
        # imported here: the encoder libraries (transformers, open_clip) are slow to import, which commands that
        # build no encoder (help, a complete cache) need not pay for
        from models.encoders import build_encoder

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

    @property
    def captions_by_frame(self) -> bool:
        """True when the captioner looks captions up by video and frame (a captions file)."""
        return bool(getattr(self.captioner, "reads_captions_by_frame", False))

    def _captions(self, text: torch.Tensor, captions_for: Optional[CaptionKeys]) -> list[str]:
        if not self.captions_by_frame:
            return self.captioner(text.reshape(-1, *text.shape[2:]))
        videos, frames = self.caption_keys(captions_for)
        return [caption for video, numbers in zip(videos, frames.tolist())
                for caption in self.captioner.lookup(video, numbers)]

    @staticmethod
    def caption_keys(captions_for: Optional[CaptionKeys]) -> CaptionKeys:
        """The windows' videos and text frame numbers a captions file is read by; an error without them."""
        if captions_for is None:
            raise ConfigError("model.captioner reads a captions file: "
                              "it needs each window's video and text frame numbers")
        return captions_for

    @torch.inference_mode()
    def _extract(self, video: torch.Tensor, image: torch.Tensor, text: torch.Tensor,
                 captions_for: Optional[CaptionKeys]):
        batch, text_steps = text.shape[:2]
        captions = self._captions(text, captions_for)
        features = {"video": self.video(video).float(), "image": self.clip.encode_frames(image).float(),
                    "text": self.clip.encode_texts(captions).float().reshape(batch, text_steps, -1)}
        grouped = [captions[i * text_steps : (i + 1) * text_steps] for i in range(batch)]
        return features, grouped

    def encode(self, frames: torch.Tensor, stream_rows: dict[str, torch.Tensor],
               captions_for: Optional[CaptionKeys] = None, row_keys: Optional[Sequence[Hashable]] = None,
               memo: Optional[FrameMemo] = None) -> tuple[dict[str, torch.Tensor], list[list[str]], EncodedCounts]:
        """A batch in ``datamodules.batch``'s layout -> (features by stream, captions per window, counts). The video
        encoder reads each window's frames; the per-frame encoders each distinct frame once
        (``models/frame_encoding.py``; ``row_keys`` and ``memo`` carry frames over from the batch before).
        Features are cloned out of inference mode, as ``forward``'s are."""
        features, captions, counts = self._encode_rows(frames, stream_rows, captions_for, row_keys, memo)
        return {name: value.clone() for name, value in features.items()}, captions, counts

    @torch.inference_mode()
    def _encode_rows(self, frames, stream_rows, captions_for, row_keys, memo):
        rows = stream_rows["video"].to(frames.device)
        video = frames.index_select(0, rows.flatten()).view(*rows.shape, *frames.shape[1:])
        per_frame, captions, counts = encode_frame_streams(self, frames, stream_rows, captions_for, row_keys, memo)
        return {"video": self.video(video).float(), **per_frame}, captions, counts

    def forward(self, video: torch.Tensor, image: torch.Tensor, text: torch.Tensor,
                captions_for: Optional[CaptionKeys] = None):
        """(features by stream, captions as one list of strings per window) from each window's frames, every
        frame of every window encoded (``encode`` encodes each distinct frame once). A captions-file captioner looks
        captions up by ``captions_for`` (``CaptionKeys``); other captioners read ``text``."""
        features, captions = self._extract(video, image, text, captions_for)
        return {name: value.clone() for name, value in features.items()}, captions
