"""Video stream encoder: transformers' V-JEPA 2 (``VJEPA2Model``, encoder only).

Per-frame features from a tubelet model: V-JEPA 2 embeds tubelets of ``tubelet_size`` (2)
frames, so there is no token for one frame. Each tubelet's spatial tokens are averaged and the
vector is repeated for the frames of that tubelet: frames 2k and 2k+1 get the same feature.

V-JEPA 2 places tokens with 3-d rotary embeddings, so any number of frames works (an odd count
is padded by repeating the last frame); the spatial size must be the checkpoint's crop size.
The predictor is not run (``skip_predictor``).
"""

from __future__ import annotations

import torch
from transformers import AutoVideoProcessor, VJEPA2Config, VJEPA2Model, VJEPA2VideoProcessor

from models.encoders.preprocess import IMAGENET_MEAN, IMAGENET_STD, FrameTransform, seeded
from models.encoders.registry import register
from models.encoders.video_base import VideoEncoder, pad_frames, processor_transform, tubelet_features
from models.encoders.weights import load_offline

WHAT = "model.video_encoder"
MODEL = "vjepa2, VJEPA2Model"


def default_transform(crop_size: int) -> FrameTransform:
    """V-JEPA 2's preprocessing (``VJEPA2VideoProcessor`` defaults) when a checkpoint carries
    none: short side to crop_size * 256 / 224, centre crop crop_size, ImageNet mean / std."""
    return FrameTransform(
        size=int(crop_size * 256 / 224), crop=(crop_size, crop_size), mean=IMAGENET_MEAN, std=IMAGENET_STD
    )


class VJEPA2Encoder(VideoEncoder):
    """(B, T, H, W, 3) uint8 frames -> (B, T, D): tubelet features repeated per frame (see module doc)."""

    def __init__(self, model: VJEPA2Model, transform: FrameTransform, dtype: str = "auto"):
        self.tubelet = int(model.config.tubelet_size)
        super().__init__(model, transform, model.config.hidden_size, dtype, WHAT)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        steps = pixels.shape[1]
        tokens = self.model(pixel_values_videos=pad_frames(pixels, self.tubelet), skip_predictor=True).last_hidden_state
        return tubelet_features(tokens, steps, self.tubelet)


def tiny_vjepa2_processor(crop_size: int) -> VJEPA2VideoProcessor:
    return VJEPA2VideoProcessor(
        size={"shortest_edge": int(crop_size * 256 / 224)}, crop_size={"height": crop_size, "width": crop_size}
    )


@register("video", "vjepa2-tiny")
def vjepa2_tiny(
    seed: int = 0, hidden_size: int = 32, crop_size: int = 32, frames_per_clip: int = 16, dtype: str = "float32"
) -> VJEPA2Encoder:
    """A random-initialised V-JEPA 2 (1 encoder layer, patch 8, tubelet 2), for tests and the demo.

    Its processor (``.processor``) is what ``save_pretrained`` should store beside it."""
    config = VJEPA2Config(
        patch_size=8,
        crop_size=crop_size,
        frames_per_clip=frames_per_clip,
        tubelet_size=2,
        hidden_size=hidden_size,
        num_attention_heads=2,
        num_hidden_layers=1,
        mlp_ratio=2.0,
        num_pooler_layers=1,
        pred_hidden_size=hidden_size,
        pred_num_attention_heads=2,
        pred_num_hidden_layers=1,
        pred_num_mask_tokens=2,
    )
    with seeded(seed):
        model = VJEPA2Model(config)
    encoder = VJEPA2Encoder(model.eval(), default_transform(crop_size), dtype)
    encoder.processor = tiny_vjepa2_processor(crop_size)
    return encoder


@register("video", "vjepa2")
def vjepa2(pretrained: str = "facebook/vjepa2-vitl-fpc64-256", allow_download: bool = False, dtype: str = "auto") -> VJEPA2Encoder:
    """Pretrained V-JEPA 2 from a local folder or the Hugging Face cache (offline); its
    preprocessing is read from the video processor saved with it (its defaults if none)."""
    model = load_offline(WHAT, pretrained, VJEPA2Model.from_pretrained, allow_download, MODEL)
    fallback = default_transform(int(model.config.crop_size))
    transform = processor_transform(
        lambda: load_offline(WHAT, pretrained, AutoVideoProcessor.from_pretrained, allow_download, MODEL, "processor"),
        fallback,
        WHAT,
    )
    return VJEPA2Encoder(model.eval(), transform, dtype)
