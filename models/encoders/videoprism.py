"""Video stream encoder: transformers' VideoPrism, per-frame features = spatial mean of its tokens."""

from __future__ import annotations

import torch
from torch import nn
from transformers import VideoPrismVisionConfig, VideoPrismVisionModel

from models.encoders.preprocess import frames_to_tensor, seeded
from models.encoders.registry import register
from models.encoders.weights import load_offline


class VideoPrismEncoder(nn.Module):
    """(B, T, H, W, 3) uint8 frames -> (B, T, D) per-frame features.

    VideoPrism takes RGB in [0, 1] with no mean/std normalisation. Its last hidden state is
    frame-major, (B, T * h * w, D); the h * w spatial tokens of each frame are averaged.
    """

    def __init__(self, model: VideoPrismVisionModel):
        super().__init__()
        self.model = model
        config = model.config
        self.image_size = int(config.image_size)
        self.num_frames = int(config.num_frames)
        self.out_dim = int(config.hidden_size)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, steps = frames.shape[:2]
        pixels = frames_to_tensor(frames, self.image_size).to(self.model.dtype)
        tokens = self.model(pixel_values_videos=pixels).last_hidden_state
        return tokens.reshape(batch, steps, -1, tokens.shape[-1]).mean(dim=2)


@register("video", "videoprism-tiny")
def videoprism_tiny(seed: int = 0, hidden_size: int = 32, image_size: int = 32, num_frames: int = 16) -> VideoPrismEncoder:
    """A random-initialised VideoPrism of a few thousand parameters, for tests and the demo."""
    config = VideoPrismVisionConfig(
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_attention_heads=2,
        num_spatial_layers=1,
        num_temporal_layers=1,
        num_auxiliary_layers=0,
        image_size=image_size,
        tubelet_size=[1, 8, 8],
        num_frames=num_frames,
    )
    with seeded(seed):
        model = VideoPrismVisionModel(config)
    return VideoPrismEncoder(model)


@register("video", "videoprism")
def videoprism(pretrained: str = "google/videoprism-base-f16r288") -> VideoPrismEncoder:
    """Pretrained VideoPrism from a local folder or the Hugging Face cache (offline).

    Eager attention: VideoPrism soft-caps its attention logits, which SDPA does not do.
    """
    model = load_offline(
        "model.video_encoder",
        pretrained,
        lambda path, **kw: VideoPrismVisionModel.from_pretrained(path, attn_implementation="eager", **kw),
    )
    return VideoPrismEncoder(model)
