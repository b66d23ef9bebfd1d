"""One captioner interface over transformers' image-to-text models.

``Captioner`` holds a model and its processor; a small ``CaptionFamily`` adapter says how that family is prompted
and how its output is read. The frames are captioned in one batched ``generate`` call (or in chunks of
``batch_size``), greedy by default (``num_beams: 1``, no sampling), so the same frames always give the same captions.
Generation settings: ``max_new_tokens``, ``num_beams``, and ``generate_kwargs`` for anything else ``generate`` takes
(``min_new_tokens``, ``repetition_penalty``, ...). Sampling (``generate_kwargs: {do_sample: true}``) makes captions,
and so the feature cache, vary between runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn
from transformers.image_processing_backends import TorchvisionBackend
from transformers.image_utils import PILImageResampling

from lightning_app.errors import ConfigError
from models.encoders.base import FrozenEncoder
from models.encoders.registry import register
from models.encoders.weights import load_offline

WHAT = "model.captioner"


class CaptionFamily:
    """How one family of captioning models is prompted and decoded (the default suits processors that take
    ``images`` and ``text`` together, e.g. BLIP-2 and Florence-2)."""

    default_prompt = ""
    #: the prompt is the start of the caption and stays in it (BLIP's conditional captioning)
    keeps_prompt = False

    def inputs(self, processor, images: list[torch.Tensor], prompt: str, **image_options):
        return processor(images=images, text=[prompt] * len(images), padding=True, return_tensors="pt", **image_options)


def preprocesses_on_gpu(processor) -> bool:
    """Whether the processor's image part resizes and normalises GPU frames on the GPU as it would on the CPU: a
    torchvision image processor whose resampling filter torchvision has on the GPU (Lanczos, which SmolVLM's
    processor uses, is CPU-only: transformers would quietly swap it for bicubic there)."""
    images = getattr(processor, "image_processor", None)
    return isinstance(images, TorchvisionBackend) and getattr(images, "resample", None) != PILImageResampling.LANCZOS


def is_encoder_decoder(model: nn.Module) -> bool:
    config = model.config
    text = getattr(config, "text_config", None)
    return bool(getattr(config, "is_encoder_decoder", False) or getattr(text, "is_encoder_decoder", False))


class Captioner(FrozenEncoder):
    """(N, H, W, 3) uint8 frames -> N captions (see the module doc)."""

    def __init__(self, model: nn.Module, processor, family: CaptionFamily, prompt: str | None = None,
                 max_new_tokens: int = 20, num_beams: int = 1, batch_size: int | None = None,
                 generate_kwargs: Mapping[str, Any] | None = None, dtype: str = "auto"):
        super().__init__(model, dtype, WHAT)
        if max_new_tokens < 1 or num_beams < 1 or (batch_size is not None and batch_size < 1):
            raise ConfigError(f"{WHAT}: max_new_tokens, num_beams and batch_size must be positive")
        self.processor = processor
        self.family = family
        self.prompt = family.default_prompt if prompt is None else prompt
        self.batch_size = batch_size
        self.generate_kwargs = {"max_new_tokens": int(max_new_tokens), "num_beams": int(num_beams), "do_sample": False,
                                **dict(generate_kwargs or {})}
        self.decoder_only = not is_encoder_decoder(model)
        tokenizer = getattr(processor, "tokenizer", None)
        if self.decoder_only and tokenizer is not None:
            tokenizer.padding_side = "left"  # batched generation continues every prompt from its end

    @property
    def tokenizer(self):
        return getattr(self.processor, "tokenizer", self.processor)

    def prepare(self, frames: torch.Tensor):
        """(N, H, W, 3) uint8 -> the processor's model inputs. Frames on a GPU stay there when the image processor
        can work there (``preprocesses_on_gpu``), with no round trip through the host; else it works on the CPU."""
        if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames shaped (N, H, W, 3), got {tuple(frames.shape)} {frames.dtype}")
        options, frames = {}, frames.detach()
        if frames.device.type != "cpu" and preprocesses_on_gpu(self.processor):
            options["device"] = frames.device
        else:
            frames = frames.cpu()
        images = list(frames.permute(0, 3, 1, 2).contiguous())
        return self.family.inputs(self.processor, images, self.prompt, **options)

    def _to_model(self, inputs) -> dict[str, Any]:
        dtype, device = self.model_dtype, self.device
        moved = {}
        for key, value in inputs.items():
            if isinstance(value, torch.Tensor):
                value = value.to(device, dtype=dtype if value.is_floating_point() else None)
            moved[key] = value
        return moved

    def _decode(self, ids: torch.Tensor, inputs: Mapping[str, Any]) -> list[str]:
        prompt_ids = inputs.get("input_ids")
        if self.decoder_only and not self.family.keeps_prompt and prompt_ids is not None:
            length = prompt_ids.shape[1]
            if ids.shape[1] >= length and torch.equal(ids[:, :length], prompt_ids.to(ids.device)):
                ids = ids[:, length:]
        return [text.strip() for text in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]

    def forward(self, frames: torch.Tensor) -> list[str]:
        if len(frames) == 0:
            return []
        self.settle_dtype()
        step = self.batch_size or len(frames)
        captions: list[str] = []
        for start in range(0, len(frames), step):
            inputs = self._to_model(self.prepare(frames[start : start + step]))
            with self.autocast_off():
                ids = self.model.generate(**inputs, **self.generate_kwargs)
            captions += self._decode(ids, inputs)
        return captions


@dataclass(frozen=True)
class Generation:
    """The generation options every captioner takes (see the module doc); a factory may change their defaults (the
    tiny ones generate fewer tokens, in float32)."""

    prompt: str | None = None
    max_new_tokens: int = 20
    num_beams: int = 1
    batch_size: int | None = None
    generate_kwargs: Mapping[str, Any] | None = None
    dtype: str = "auto"


def register_captioner(name: str, **defaults):
    """Register ``build(**own options) -> (model, processor, family)`` as the captioner factory ``name``. The factory
    takes the builder's options and ``Generation``'s, so every captioner shares one set of generation options and
    the registry validates both by the factory's signature."""
    shared = {f.name: defaults.get(f.name, f.default) for f in fields(Generation)}
    types = {f.name: f.type for f in fields(Generation)}

    def decorate(build):
        def factory(**options) -> Captioner:
            generation = {key: options.pop(key) for key in list(options) if key in shared}
            model, processor, family = build(**options)
            return Captioner(model.eval(), processor, family, **{**shared, **generation})

        own = list(inspect.signature(build).parameters.values())
        factory.__signature__ = inspect.Signature(
            own + [inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=value, annotation=types[key])
                   for key, value in shared.items()])
        factory.__doc__ = build.__doc__
        register("captioner", name)(factory)
        return build

    return decorate


def load_pretrained(pretrained: str, load_model, load_processor, model_desc: str, allow_download: bool):
    """A pretrained captioner's (model, processor) from a local folder or the Hugging Face cache (offline)."""
    model = load_offline(WHAT, pretrained, load_model, allow_download, model_desc)
    processor = load_offline(WHAT, pretrained, load_processor, allow_download, model_desc, "processor")
    return model, processor
