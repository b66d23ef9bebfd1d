"""Frame preprocessing shared by the encoders: uint8 RGB frames -> normalised float tensors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# The mean / std OpenAI CLIP (and BLIP) were trained with.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's CPU RNG seeded, leaving the caller's RNG state untouched. Tiny encoders are built
    inside it, so a seed gives the same weights in every process and checkpoints need not carry them."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# ImageNet statistics (VideoMAE, V-JEPA 2).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_INTERPOLATIONS = {0: "nearest", 1: "bicubic", 2: "bilinear", 3: "bicubic", 4: "bilinear", 5: "bicubic"}


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))


@dataclass(frozen=True)
class FrameTransform:
    """A model's image preprocessing, run on tensors on the frames' own device.

    ``mode`` says how ``size`` is read: ``shortest`` resizes the short side to ``size`` keeping the aspect ratio (the
    long side rounded down, as Hugging Face and torchvision do), ``squash`` resizes to exactly ``size`` (h, w),
    ``longest`` resizes the long side to ``size`` and pads the short one (centred, with ``fill``) to a square. Then
    an optional centre ``crop`` (h, w), scaling to [0, 1] and an optional ``mean`` / ``std`` normalisation.
    ``interpolation`` is ``bilinear``, ``bicubic`` (both antialiased) or ``nearest``.
    """

    size: int | tuple[int, int]
    mode: str = "shortest"
    crop: tuple[int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str = "bilinear"
    fill: float = 0.0

    def __post_init__(self):
        if self.mode not in ("shortest", "squash", "longest"):
            raise ValueError(f"unknown resize mode {self.mode!r}")
        if self.interpolation not in ("bilinear", "bicubic", "nearest"):
            raise ValueError(f"unknown interpolation {self.interpolation!r}")

    @property
    def output_size(self) -> tuple[int, int]:
        if self.crop is not None:
            return self.crop
        if self.mode == "shortest":
            raise ValueError("a shortest-side resize without a crop has no fixed output size")
        return _pair(self.size)

    def _resized_shape(self, height: int, width: int) -> tuple[int, int]:
        if self.mode == "squash":
            return _pair(self.size)
        target = int(self.size if isinstance(self.size, int) else min(self.size))
        short, long = min(height, width), max(height, width)
        if self.mode == "shortest":
            other = int(target * long / short)
            return (target, other) if height <= width else (other, target)
        other = int(target * short / long)  # longest
        return (other, target) if height <= width else (target, other)

    def _resize(self, x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        if tuple(x.shape[-2:]) == shape:
            return x
        if self.interpolation == "nearest":
            return F.interpolate(x, size=shape, mode="nearest")
        x = F.interpolate(x, size=shape, mode=self.interpolation, antialias=True, align_corners=False)
        return x.clamp_(0.0, 1.0) if self.interpolation == "bicubic" else x

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """(..., H, W, 3) uint8 -> (..., 3, h, w) float32."""
        if frames.dtype != torch.uint8 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames shaped (..., H, W, 3), got {tuple(frames.shape)} {frames.dtype}")
        lead = frames.shape[:-3]
        height, width = frames.shape[-3:-1]
        x = frames.reshape(-1, height, width, 3).permute(0, 3, 1, 2).float().div_(255.0)
        x = self._resize(x, self._resized_shape(height, width))
        if self.mode == "longest":
            side = int(self.size if isinstance(self.size, int) else max(self.size))
            pad_h, pad_w = side - x.shape[-2], side - x.shape[-1]
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=self.fill)
        if self.crop is not None:
            x = _centre_crop(x, self.crop)
        if self.mean is not None and self.std is not None:
            m = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            s = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            x = (x - m) / s
        return x.reshape(*lead, 3, *x.shape[-2:])

    @classmethod
    def from_hf_processor(cls, processor) -> "FrameTransform":
        """The transform a Hugging Face image or video processor describes (its ``size``, ``crop_size``,
        ``resample``, ``image_mean`` / ``image_std`` and do_* switches)."""

        def get(obj, key):
            return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)

        size = processor.size
        if not getattr(processor, "do_resize", True):
            raise ValueError("processors that do not resize are not supported")
        if get(size, "shortest_edge"):
            mode, target = "shortest", int(get(size, "shortest_edge"))
        elif get(size, "height") and get(size, "width"):
            mode, target = "squash", (int(get(size, "height")), int(get(size, "width")))
        else:
            raise ValueError(f"unsupported processor size {size!r}")
        crop = None
        crop_size = getattr(processor, "crop_size", None)
        if getattr(processor, "do_center_crop", False) and crop_size is not None:
            crop = (int(get(crop_size, "height")), int(get(crop_size, "width")))
        if mode == "shortest" and crop is None:
            raise ValueError("a shortest-edge resize without a centre crop gives frames of varying size")
        if (getattr(processor, "do_rescale", True)
                and abs(float(getattr(processor, "rescale_factor", 1 / 255)) - 1 / 255) > 1e-9):
            raise ValueError("only a 1/255 rescale is supported")
        normalise = getattr(processor, "do_normalize", True)
        resample = getattr(processor, "resample", 2)
        return cls(size=target, mode=mode, crop=crop,
                   mean=tuple(float(v) for v in processor.image_mean) if normalise else None,
                   std=tuple(float(v) for v in processor.image_std) if normalise else None,
                   interpolation=_interpolation(resample))


def _interpolation(resample) -> str:
    """A PIL resample code, or a torchvision InterpolationMode, as an interpolation name."""
    if resample is None:
        return "bilinear"
    value = getattr(resample, "value", resample)
    if isinstance(value, str):
        return value if value in ("bilinear", "bicubic", "nearest") else "bicubic"
    return _INTERPOLATIONS.get(int(value), "bicubic")


def _centre_crop(x: torch.Tensor, crop: tuple[int, int]) -> torch.Tensor:
    """Centre crop (h, w), zero-padding first where the image is smaller (as Hugging Face does)."""
    crop_h, crop_w = crop
    height, width = x.shape[-2:]
    if crop_h > height or crop_w > width:
        pad_h, pad_w = max(crop_h - height, 0), max(crop_w - width, 0)
        x = F.pad(x, (pad_w // 2, (pad_w + 1) // 2, pad_h // 2, (pad_h + 1) // 2))
        height, width = x.shape[-2:]
    top, left = int((height - crop_h) / 2.0), int((width - crop_w) / 2.0)
    return x[..., top : top + crop_h, left : left + crop_w]
