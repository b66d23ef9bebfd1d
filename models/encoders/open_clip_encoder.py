"""Image and text streams: one open_clip CLIP model embeds frames and captions in one space.

``{name: open_clip, model_name: ViT-B-16, pretrained: openai}`` picks an architecture and its weights, offline:

* a pretrained **tag** (``openai``, ``laion2b_s34b_b88k``, ...; ``open_clip.list_pretrained()``) is looked up in
  the Hugging Face cache, where open_clip 3 keeps tagged weights (fetched from the hub repo its pretrained config
  names); a miss is a ``ConfigError`` with the command that fetches them;
* a **file** (``.bin`` / ``.pt`` / ``.safetensors`` state dict) is loaded into ``model_name``;
* a **folder** holding ``open_clip_config.json`` (open_clip's ``local-dir:`` layout) brings its own architecture,
  preprocessing and weights; a folder without one is searched for a weights file;
* ``model_name: hf-hub:org/repo`` reads an open_clip hub repo from the cache.

Preprocessing (size, resize mode, interpolation, mean / std) is the model's own: the tag's pretrained config, else
the folder's, else open_clip's defaults (OpenAI statistics, bicubic, short side + centre crop). OpenAI weights were
trained with QuickGELU: tags whose pretrained config says so (``openai`` among them) get it; for a weights file set
``quick_gelu: true`` (or use a ``-quickgelu`` model name).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import open_clip
import torch
from huggingface_hub import try_to_load_from_cache
from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
from torch import nn

from lightning_app.errors import ConfigError
from models.encoders.base import FrozenEncoder
from models.encoders.preprocess import CLIP_MEAN, CLIP_STD, FrameTransform, seeded
from models.encoders.registry import register
from models.encoders.weights import DOWNLOAD_HINT, hub_cache_dir, hub_offline, missing_weights_error

WHAT = "model.clip_encoder"
WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".safetensors")


def transform_from_preprocess_cfg(cfg: Mapping[str, Any]) -> FrameTransform:
    """The FrameTransform equal to open_clip's eval transform for a preprocess config."""
    size = cfg.get("size", 224)
    size = tuple(size) if isinstance(size, (tuple, list)) else (int(size), int(size))
    mode = cfg.get("resize_mode", "shortest")
    interpolation = "bilinear" if cfg.get("interpolation") == "bilinear" else "bicubic"
    mean, std = tuple(cfg.get("mean", CLIP_MEAN)), tuple(cfg.get("std", CLIP_STD))
    if mode == "squash":
        return FrameTransform(size=size, mode="squash", mean=mean, std=std, interpolation=interpolation)
    if size[0] != size[1]:
        raise ConfigError(f"{WHAT}: non-square input size {size} with resize_mode {mode!r} is not supported")
    if mode == "longest":
        return FrameTransform(size=size[0], mode="longest", mean=mean, std=std, interpolation=interpolation,
                              fill=float(cfg.get("fill_color", 0)) / 255.0)
    return FrameTransform(size=size[0], mode="shortest", crop=size, mean=mean, std=std, interpolation=interpolation)


class OpenClipEncoder(FrozenEncoder):
    """``encode_frames``: (B, T, H, W, 3) uint8 -> (B, T, D); ``encode_texts``: N strings -> (N, D)."""

    def __init__(self, model: nn.Module, tokenizer, dtype: str = "auto"):
        super().__init__(model, dtype, WHAT)
        self.tokenizer = tokenizer
        self.transform = transform_from_preprocess_cfg(model.visual.preprocess_cfg)  # the model's own
        self.out_dim = int(model.visual.output_dim)

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        self.settle_dtype()
        lead = frames.shape[:-3]
        frames = frames.reshape(-1, *frames.shape[-3:]).to(self.device, non_blocking=True)
        with self.autocast_off():
            pixels = self.transform(frames).to(self.model_dtype)
            features = self.model.encode_image(pixels)
        return features.float().reshape(*lead, -1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        self.settle_dtype()
        tokens = self.tokenizer(list(texts)).to(self.device)
        with self.autocast_off():
            return self.model.encode_text(tokens).float()


@contextmanager
def _quiet_open_clip() -> Iterator[None]:
    """open_clip logs on the root logger (e.g. that a tiny model has no pretrained weights)."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@register("clip", "clip-tiny")
def clip_tiny(seed: int = 0, embed_dim: int = 32, image_size: int = 32, context_length: int = 16,
              dtype: str = "float32") -> OpenClipEncoder:
    """A random-initialised open_clip ViT-B-32 shrunk to a few layers of width 32, with open_clip's BPE tokenizer
    (it ships inside the wheel: no download)."""
    with _quiet_open_clip(), seeded(seed):
        model = open_clip.create_model(
            "ViT-B-32", embed_dim=embed_dim,
            vision_cfg={"image_size": image_size, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
            text_cfg={"context_length": context_length, "width": 32, "heads": 2, "layers": 1})
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=context_length)
    return OpenClipEncoder(model.eval(), tokenizer, dtype)


def _hub_parts(pretrained_cfg: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(repo id, candidate file names) of a tag's weights on the hub, in open_clip's order: ``hf_hub`` is
    ``org/repo/`` (default file name) or ``org/repo/file``; a safetensors twin first where open_clip prefers it."""
    repo, filename = os.path.split(pretrained_cfg["hf_hub"])
    filename = filename or HF_WEIGHTS_NAME
    if filename == HF_WEIGHTS_NAME:
        return repo, [HF_SAFE_WEIGHTS_NAME, filename]
    if filename.endswith((".bin", ".pth")):
        return repo, [filename[:-4] + ".safetensors", filename]
    return repo, [filename]


def cached_tag_weights(model_name: str, tag: str) -> tuple[str | None, str, list[str]]:
    """Look a tag's weights up in the Hugging Face cache: (path or None, repo id, file names)."""
    cfg = open_clip.get_pretrained_cfg(model_name, tag)
    repo, names = _hub_parts(cfg)
    cache = str(hub_cache_dir())
    for name in names:
        found = try_to_load_from_cache(repo, name, cache_dir=cache)
        if isinstance(found, str) and Path(found).is_file():
            return found, repo, names
    return None, repo, names


def _fetch_commands(model_name: str, tag: str, repo: str, names: list[str]) -> str:
    return (f"python -c \"import open_clip; open_clip.create_model_and_transforms('{model_name}', "
            f"pretrained='{tag}')\"` or `hf download {repo} {names[-1]}")


def _resolve_weights(model_name: str, pretrained: str | None, allow_download: bool) -> tuple[str, str | None, dict]:
    """(model name for open_clip, weights file or None, the tag's pretrained config or {})."""
    if model_name.startswith(("hf-hub:", "local-dir:")):
        return model_name, None, {}
    if pretrained is None:
        raise ConfigError(f"{WHAT}: open_clip needs pretrained weights: a tag (e.g. openai; "
                          "see open_clip.list_pretrained()), a checkpoint file or folder "
                          "(use clip-tiny for a random model)")
    path = Path(pretrained).expanduser()
    if path.is_dir() and (path / "open_clip_config.json").is_file():
        return f"local-dir:{path}", None, {}
    if model_name not in open_clip.list_models():
        raise ConfigError(f"{WHAT}: unknown open_clip model_name {model_name!r}; see open_clip.list_models()")
    if path.is_dir():
        found = [p for n in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin") if (p := path / n).is_file()]
        found = found or sorted(p for s in WEIGHT_SUFFIXES for p in path.glob(f"*{s}"))
        if not found:
            raise ConfigError(f"{WHAT}: the folder {path} holds no open_clip weights file "
                              f"({', '.join(WEIGHT_SUFFIXES)})")
        return model_name, str(found[0]), {}
    if path.is_file():
        return model_name, str(path), {}
    if pretrained.startswith(("/", ".", "~")) or "/" in pretrained or pretrained.endswith(WEIGHT_SUFFIXES):
        raise ConfigError(f"{WHAT}: pretrained {path} is not a local checkpoint file or folder (it does not exist); "
                          f"set it to an open_clip weights file, a saved folder, or a pretrained tag of {model_name}")
    pretrained_cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not pretrained_cfg:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise ConfigError(f"{WHAT}: pretrained {pretrained!r} is not a local checkpoint file or folder, nor a "
                          f"pretrained tag of {model_name} (tags: {', '.join(tags) or 'none'})")
    weights, repo, names = cached_tag_weights(model_name, pretrained)
    if weights is None:
        if not allow_download:
            raise missing_weights_error(WHAT, f"{model_name}/{pretrained}",
                                        _fetch_commands(model_name, pretrained, repo, names),
                                        f"open_clip {model_name}, tag {pretrained}, hub repo {repo}")
        try:
            weights = open_clip.download_pretrained(pretrained_cfg, cache_dir=str(hub_cache_dir()))
        except Exception as exc:  # open_clip wraps every hub error
            raise ConfigError(f"{WHAT}: could not download {model_name}/{pretrained} from {repo} "
                              f"(allow_download is on): {exc}") from exc
    return model_name, weights, pretrained_cfg


def _preprocess_overrides(pretrained_cfg: Mapping[str, Any]) -> dict:
    return {k: pretrained_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode", "fill_color")
            if k in pretrained_cfg}


@register("clip", "open_clip")
def open_clip_model(model_name: str = "ViT-B-16", pretrained: str | None = "openai", quick_gelu: bool | None = None,
                    allow_download: bool = False, dtype: str = "auto") -> OpenClipEncoder:
    """An open_clip model and weights, loaded offline (see the module doc for what ``pretrained`` may be; it is
    ignored with an ``hf-hub:`` / ``local-dir:`` model name). ``quick_gelu: true`` forces QuickGELU; by default a
    tag's pretrained config decides (``openai`` always gets it), and a file or folder keeps the model's activation."""
    name, weights, pretrained_cfg = _resolve_weights(model_name, pretrained, allow_download)
    if quick_gelu is None:  # a tag's config decides; OpenAI's weights always need QuickGELU
        quick = bool(pretrained_cfg) and (bool(pretrained_cfg.get("quick_gelu")) or pretrained.lower() == "openai")
    else:
        quick = bool(quick_gelu)
    kwargs = {} if name.startswith(("hf-hub:", "local-dir:")) else {"pretrained": weights}
    try:
        with hub_offline(not allow_download), _quiet_open_clip():
            model = open_clip.create_model(name, force_quick_gelu=quick,
                                           force_preprocess_cfg=_preprocess_overrides(pretrained_cfg),
                                           cache_dir=str(hub_cache_dir()), require_pretrained=True, **kwargs)
            tokenizer = open_clip.get_tokenizer(name, cache_dir=str(hub_cache_dir()))
    except (OSError, RuntimeError, ValueError) as exc:
        repo = name.split(":", 1)[1] if name.startswith("hf-hub:") else None
        if repo and not allow_download:
            raise missing_weights_error(WHAT, name, f"hf download {repo}", f"open_clip {name}", cause=exc) from exc
        raise ConfigError(f"{WHAT}: open_clip could not build {name} with weights {weights or pretrained!r} "
                          f"({DOWNLOAD_HINT}; a model whose tokenizer lives on the hub needs it in the cache too): "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}") from exc
    return OpenClipEncoder(model.eval(), tokenizer, dtype)
