"""Video stream encoder: transformers' VideoMAE (``VideoMAEModel``).

VideoMAE embeds tubelets of ``tubelet_size`` (2) frames, so there is no token for one frame: per-frame features are
tubelet features repeated (``video_base.tubelet_features``). Its position embeddings are a fixed table for exactly
``num_frames`` (16) frames at ``image_size``; other frame counts are cut into clips of ``num_frames`` frames (the
last one padded by repeating its last frame), each encoded on its own.
"""

from __future__ import annotations

import torch
from transformers import AutoImageProcessor, AutoVideoProcessor, VideoMAEConfig, VideoMAEModel

from models.encoders.preprocess import IMAGENET_MEAN, IMAGENET_STD, FrameTransform, seeded
from models.encoders.registry import register
from models.encoders.video_base import WHAT, VideoEncoder, load_pretrained, pad_frames, tubelet_features


def default_transform(image_size: int) -> FrameTransform:
    """VideoMAE's preprocessing when a checkpoint carries none: short side to image_size, centre crop, ImageNet
    mean / std (what the MCG-NJU checkpoints' processors use)."""
    return FrameTransform(size=image_size, crop=(image_size, image_size), mean=IMAGENET_MEAN, std=IMAGENET_STD)


class VideoMAEEncoder(VideoEncoder):
    """(B, T, H, W, 3) uint8 frames -> (B, T, D): tubelet features repeated per frame (see module doc)."""

    def __init__(self, model: VideoMAEModel, transform: FrameTransform, dtype: str = "auto"):
        config = model.config
        self.num_frames = int(config.num_frames)
        self.tubelet = int(config.tubelet_size)
        super().__init__(model, transform, config.hidden_size, dtype, WHAT)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        batch, steps = pixels.shape[:2]
        clips = pad_frames(pixels, self.num_frames)
        clips = clips.reshape(-1, self.num_frames, *clips.shape[2:])  # (B * n, num_frames, 3, h, w)
        tokens = self.model(pixel_values=clips).last_hidden_state
        per_frame = tubelet_features(tokens, self.num_frames, self.tubelet)  # (B * n, num_frames, D)
        return per_frame.reshape(batch, -1, per_frame.shape[-1])[:, :steps]


@register("video", "videomae-tiny")
def videomae_tiny(seed: int = 0, hidden_size: int = 32, image_size: int = 32, num_frames: int = 16,
                  dtype: str = "float32") -> VideoMAEEncoder:
    """A random-initialised VideoMAE (1 layer, patch 8, tubelet 2), for tests and the demo."""
    config = VideoMAEConfig(image_size=image_size, patch_size=8, num_frames=num_frames, tubelet_size=2,
                            hidden_size=hidden_size, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=2 * hidden_size, use_mean_pooling=False)
    with seeded(seed):
        model = VideoMAEModel(config)
    return VideoMAEEncoder(model.eval(), default_transform(image_size), dtype)


def _load_processor(path: str, **kw):
    try:
        return AutoVideoProcessor.from_pretrained(path, **kw)
    except (OSError, ValueError):
        return AutoImageProcessor.from_pretrained(path, **kw)


@register("video", "videomae")
def videomae(pretrained: str = "MCG-NJU/videomae-base", allow_download: bool = False,
             dtype: str = "auto") -> VideoMAEEncoder:
    """Pretrained VideoMAE from a local folder or the Hugging Face cache (offline); its preprocessing is read from
    the processor saved with it (ImageNet statistics if none)."""
    model, transform = load_pretrained(pretrained, allow_download, VideoMAEModel.from_pretrained, _load_processor,
                                       "videomae, VideoMAEModel", lambda config: default_transform(int(config.image_size)))
    return VideoMAEEncoder(model, transform, dtype)
