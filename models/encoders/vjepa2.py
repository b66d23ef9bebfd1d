"""Video stream encoder: transformers' V-JEPA 2 (``VJEPA2Model``, encoder only; the predictor is not run).

V-JEPA 2 embeds tubelets of ``tubelet_size`` (2) frames, so there is no token for one frame: per-frame features are
tubelet features repeated (``video_base.tubelet_features``). It places tokens with 3-d rotary embeddings, so any
number of frames works (an odd count is padded by repeating the last frame); the spatial size must be the
checkpoint's crop size.
"""

from __future__ import annotations

import torch
from transformers import AutoVideoProcessor, VJEPA2Config, VJEPA2Model

from models.encoders.preprocess import IMAGENET_MEAN, IMAGENET_STD, FrameTransform, seeded
from models.encoders.registry import register
from models.encoders.video_base import WHAT, VideoEncoder, load_pretrained, pad_frames, tubelet_features


def default_transform(crop_size: int) -> FrameTransform:
    """V-JEPA 2's preprocessing (``VJEPA2VideoProcessor`` defaults) when a checkpoint carries none: short side to
    crop_size * 256 / 224, centre crop crop_size, ImageNet mean / std."""
    return FrameTransform(size=int(crop_size * 256 / 224), crop=(crop_size, crop_size), mean=IMAGENET_MEAN,
                          std=IMAGENET_STD)


class VJEPA2Encoder(VideoEncoder):
    """(B, T, H, W, 3) uint8 frames -> (B, T, D): tubelet features repeated per frame (see module doc)."""

    def __init__(self, model: VJEPA2Model, transform: FrameTransform, dtype: str = "auto"):
        self.tubelet = int(model.config.tubelet_size)
        super().__init__(model, transform, model.config.hidden_size, dtype, WHAT)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        steps = pixels.shape[1]
        tokens = self.model(pixel_values_videos=pad_frames(pixels, self.tubelet), skip_predictor=True).last_hidden_state
        return tubelet_features(tokens, steps, self.tubelet)


@register("video", "vjepa2-tiny")
def vjepa2_tiny(seed: int = 0, hidden_size: int = 32, crop_size: int = 32, frames_per_clip: int = 16,
                dtype: str = "float32") -> VJEPA2Encoder:
    """A random-initialised V-JEPA 2 (1 encoder layer, patch 8, tubelet 2), for tests and the demo."""
    config = VJEPA2Config(patch_size=8, crop_size=crop_size, frames_per_clip=frames_per_clip, tubelet_size=2,
                          hidden_size=hidden_size, num_attention_heads=2, num_hidden_layers=1, mlp_ratio=2.0,
                          num_pooler_layers=1, pred_hidden_size=hidden_size, pred_num_attention_heads=2,
                          pred_num_hidden_layers=1, pred_num_mask_tokens=2)
    with seeded(seed):
        model = VJEPA2Model(config)
    return VJEPA2Encoder(model.eval(), default_transform(crop_size), dtype)


@register("video", "vjepa2")
def vjepa2(pretrained: str = "facebook/vjepa2-vitl-fpc64-256", allow_download: bool = False,
           dtype: str = "auto") -> VJEPA2Encoder:
    """Pretrained V-JEPA 2 from a local folder or the Hugging Face cache (offline); its preprocessing is read from
    the video processor saved with it (its defaults if none)."""
    model, transform = load_pretrained(pretrained, allow_download, VJEPA2Model.from_pretrained,
                                       AutoVideoProcessor.from_pretrained, "vjepa2, VJEPA2Model",
                                       lambda config: default_transform(int(config.crop_size)))
    return VJEPA2Encoder(model, transform, dtype)
