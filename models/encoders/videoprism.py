"""Video stream encoder: transformers' VideoPrism, per-frame features = spatial mean of its tokens."""

from __future__ import annotations

import torch
from transformers import VideoPrismVisionConfig, VideoPrismVisionModel

from models.encoders.preprocess import FrameTransform, seeded
from models.encoders.registry import register
from models.encoders.video_base import WHAT, VideoEncoder
from models.encoders.weights import load_offline


def videoprism_transform(image_size: int) -> FrameTransform:
    """VideoPrism's own preprocessing (``VideoPrismProcessor``): frames resized to image_size x image_size
    (bicubic, aspect ratio not kept), RGB in [0, 1], no mean/std."""
    return FrameTransform(size=(image_size, image_size), mode="squash", interpolation="bicubic")


class VideoPrismEncoder(VideoEncoder):
    """(B, T, H, W, 3) uint8 frames -> (B, T, D) per-frame features.

    VideoPrism embeds every frame on its own (1 x p x p patches), so its last hidden state is frame-major,
    (B, T * h * w, D); the h * w spatial tokens of each frame are averaged. Any number of frames works: when T
    differs from the checkpoint's ``num_frames`` the temporal position embeddings are interpolated.
    """

    def __init__(self, model: VideoPrismVisionModel, dtype: str = "auto"):
        config = model.config
        self.image_size = int(config.image_size)
        self.num_frames = int(config.num_frames)
        super().__init__(model, videoprism_transform(self.image_size), config.hidden_size, dtype, WHAT)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        batch, steps = pixels.shape[:2]
        interpolate = steps != self.num_frames or tuple(pixels.shape[-2:]) != (self.image_size, self.image_size)
        tokens = self.model(pixel_values_videos=pixels, interpolate_pos_encoding=interpolate).last_hidden_state
        return tokens.reshape(batch, steps, -1, tokens.shape[-1]).mean(dim=2)


@register("video", "videoprism-tiny")
def videoprism_tiny(seed: int = 0, hidden_size: int = 32, image_size: int = 32, num_frames: int = 16,
                    dtype: str = "float32") -> VideoPrismEncoder:
    """A random-initialised VideoPrism of a few thousand parameters, for tests and the demo."""
    config = VideoPrismVisionConfig(hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_attention_heads=2,
                                    num_spatial_layers=1, num_temporal_layers=1, num_auxiliary_layers=0,
                                    image_size=image_size, tubelet_size=[1, 8, 8], num_frames=num_frames)
    with seeded(seed):
        model = VideoPrismVisionModel(config)
    return VideoPrismEncoder(model.eval(), dtype)


@register("video", "videoprism")
def videoprism(pretrained: str = "google/videoprism-base-f16r288", allow_download: bool = False,
               dtype: str = "auto") -> VideoPrismEncoder:
    """Pretrained VideoPrism from a local folder or the Hugging Face cache (offline), with eager attention:
    VideoPrism soft-caps its attention logits, which SDPA does not do."""
    model = load_offline(
        WHAT, pretrained,
        lambda path, **kw: VideoPrismVisionModel.from_pretrained(path, attn_implementation="eager", **kw),
        allow_download, "videoprism, VideoPrismVisionModel")
    return VideoPrismEncoder(model.eval(), dtype)
