"""Image and text streams: one open_clip CLIP model embeds frames and captions in one space."""

from __future__ import annotations

import logging
from pathlib import Path

import open_clip
import torch
from torch import nn

from lightning_app.errors import ConfigError
from models.encoders.preprocess import CLIP_MEAN, CLIP_STD, frames_to_tensor, seeded
from models.encoders.registry import register


class OpenClipEncoder(nn.Module):
    """``encode_frames``: (B, T, H, W, 3) uint8 -> (B, T, D); ``encode_texts``: N strings -> (N, D)."""

    def __init__(self, model: nn.Module, tokenizer, image_size: int, mean=CLIP_MEAN, std=CLIP_STD):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.image_size = int(image_size)
        self.mean, self.std = tuple(mean), tuple(std)
        self.out_dim = int(model.visual.output_dim)

    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        lead = frames.shape[:-3]
        pixels = frames_to_tensor(frames.reshape(-1, *frames.shape[-3:]), self.image_size, self.mean, self.std)
        features = self.model.encode_image(pixels.to(self._device))
        return features.reshape(*lead, -1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts).to(self._device)
        return self.model.encode_text(tokens)


@register("clip", "clip-tiny")
def clip_tiny(seed: int = 0, embed_dim: int = 32, image_size: int = 32, context_length: int = 16) -> OpenClipEncoder:
    """A random-initialised open_clip ViT-B-32 shrunk to a few layers of width 32.

    The tokenizer is open_clip's BPE tokenizer, which ships inside the wheel (no download).
    """
    # open_clip logs a warning that no pretrained weights were loaded; here that is the point.
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with seeded(seed):
            model = open_clip.create_model(
                "ViT-B-32",
                embed_dim=embed_dim,
                vision_cfg={"image_size": image_size, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
                text_cfg={"context_length": context_length, "width": 32, "heads": 2, "layers": 1},
            )
    finally:
        logger.setLevel(level)
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=context_length)
    return OpenClipEncoder(model.eval(), tokenizer, image_size)


@register("clip", "open_clip")
def open_clip_model(model_name: str = "ViT-B-32", pretrained: str | None = None) -> OpenClipEncoder:
    """An open_clip architecture with weights from a local checkpoint file (offline)."""
    if pretrained is None or not Path(pretrained).is_file():
        raise ConfigError(
            f"model.clip_encoder.pretrained: {pretrained!r} is not a local checkpoint file. Nothing is downloaded; "
            f"on a machine with network save the weights (e.g. open_clip_pytorch_model.bin for {model_name}) and "
            "set pretrained to its path."
        )
    model = open_clip.create_model(model_name, pretrained=pretrained)
    preprocess = getattr(model.visual, "preprocess_cfg", {}) or {}
    size = preprocess.get("size", model.visual.image_size)
    size = size[0] if isinstance(size, (tuple, list)) else size
    return OpenClipEncoder(
        model.eval(),
        open_clip.get_tokenizer(model_name),
        int(size),
        preprocess.get("mean", CLIP_MEAN),
        preprocess.get("std", CLIP_STD),
    )
