"""What every frozen encoder shares: its device, and the precision it computes in.

An encoder wraps one pretrained module as ``self.model``. A spec's ``dtype`` (``auto``, ``float32``, ``bfloat16``,
``float16``) applies only while that module sits on a CUDA device; elsewhere the encoder computes in float32.
``auto`` means bfloat16 on a GPU that supports it, float16 on older ones.

The cast happens when the encoder is moved (``.to(device)``, ``.cuda()``: Lightning moves the whole LightningModule,
encoders included, before it wraps it for DDP), and is checked again at every call in case the wrapped module was
moved on its own. Features always come back as float32. Moving an encoder from a GPU back to the CPU casts it to
float32, but the weights keep the rounding of the half-precision copy; build it anew for exact float32 weights.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import torch
from torch import nn

from lightning_app.errors import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DTYPE_CHOICES = ("auto", *DTYPES)


def check_dtype(dtype: str, what: str) -> str:
    """Validate a spec's ``dtype`` option; ``what`` names the encoder in the error."""
    if dtype not in DTYPE_CHOICES:
        raise ConfigError(f"{what}: dtype must be one of {', '.join(DTYPE_CHOICES)}; got {dtype!r}")
    return dtype


def _kept_in_fp32(model: nn.Module) -> list[str]:
    """Names of the submodules / parameters transformers keeps in float32 at any precision."""
    names = getattr(model, "_keep_in_fp32_modules", None) or []
    strict = getattr(model, "_keep_in_fp32_modules_strict", None) or []
    return list(dict.fromkeys([*names, *strict]))


def _matches(name: str, patterns: list[str]) -> bool:
    return any(re.search(rf"(^|\.){re.escape(p)}(\.|$)", name) for p in patterns)


def cast_model(model: nn.Module, dtype: torch.dtype) -> None:
    """Cast a model's floating parameters and buffers to ``dtype`` in place, keeping the parts transformers declares
    float32-only (e.g. BLIP-2's Q-Former) in float32."""
    with torch.inference_mode(False), torch.no_grad():
        model.to(dtype)
        keep = _kept_in_fp32(model) if dtype != torch.float32 else []
        if keep:
            for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
                if _matches(name, keep) and tensor.is_floating_point():
                    tensor.data = tensor.data.float()


class FrozenEncoder(nn.Module):
    """Base class: ``self.model`` plus the device and precision rules above."""

    def __init__(self, model: nn.Module, dtype: str = "auto", what: str = "encoder"):
        super().__init__()
        self.model = model
        self.dtype_option = check_dtype(dtype, what)
        self._keep = _kept_in_fp32(model)

    def _tensors(self) -> Iterator[torch.Tensor]:
        yield from self.model.parameters()
        yield from self.model.buffers()

    @property
    def device(self) -> torch.device:
        for tensor in self._tensors():
            return tensor.device
        return torch.device("cpu")

    def compute_dtype(self, device: torch.device | None = None) -> torch.dtype:
        """The precision the encoder computes in on ``device`` (default: where it sits)."""
        device = self.device if device is None else device
        if device.type != "cuda":
            return torch.float32
        if self.dtype_option == "auto":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return DTYPES[self.dtype_option]

    @property
    def model_dtype(self) -> torch.dtype:
        """The dtype the wrapped model's weights are in now (ignoring parts kept in float32)."""
        first = None
        for name, param in self.model.named_parameters():
            if not param.is_floating_point():
                continue
            first = first or param.dtype
            if not _matches(name, self._keep):
                return param.dtype
        return first or torch.float32

    def settle_dtype(self) -> None:
        """Cast the wrapped model to the precision its device calls for, if it is not already."""
        target = self.compute_dtype()
        if self.model_dtype != target:
            cast_model(self.model, target)

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        self.settle_dtype()
        return self

    def autocast_off(self):
        """A context with any enclosing autocast (e.g. Lightning's mixed precision) off: the encoder's own dtype."""
        return torch.autocast(device_type=self.device.type, enabled=False)
