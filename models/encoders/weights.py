"""Offline loading of pretrained weights, with one clear error when they are missing.

Weights come from a local folder or file, or from the Hugging Face cache (``HF_HUB_CACHE``, else ``$HF_HOME/hub``,
else ``~/.cache/huggingface/hub``), which open_clip uses too. Nothing is downloaded unless a spec sets
``allow_download: true``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from huggingface_hub import constants as hub_constants

from lightning_app.errors import ConfigError

T = TypeVar("T")

DOWNLOAD_HINT = "nothing is downloaded unless the spec sets allow_download: true"


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache in force now (environment read at call time, so a changed ``HF_HUB_CACHE`` /
    ``HF_HOME`` counts even after huggingface_hub was imported)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(hub_constants.HF_HUB_CACHE).expanduser()


@contextlib.contextmanager
def hub_offline(offline: bool = True) -> Iterator[None]:
    """Within the block, huggingface_hub (and so transformers and open_clip) serves files from the local cache only
    and refuses any HTTP request."""
    if not offline:
        yield
        return
    previous = hub_constants.HF_HUB_OFFLINE
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE = previous


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"[{type(exc).__name__}: {text}]"


def missing_weights_error(what: str, pretrained: str, fetch: str, model: str, part: str = "weights",
                          cause: BaseException | None = None) -> ConfigError:
    """The one error for weights that are neither a local folder/file nor in the cache: ``what`` is the config key,
    ``model`` the encoder (name and class), ``fetch`` the command that fetches the weights on a machine with
    network."""
    return ConfigError(
        f"{what}: {part} {pretrained!r} are neither a local folder nor in the Hugging Face cache "
        f"({model}; looked offline in {hub_cache_dir()}; {DOWNLOAD_HINT}). On a machine with network run "
        f"`{fetch}` (it fills that cache: copy the cache over or point HF_HOME / HF_HUB_CACHE at it), "
        f"or save the model to a folder and set pretrained to its path."
        + (f" {_reason(cause)}" if cause is not None else ""))


def load_offline(what: str, pretrained: str, load: Callable[..., T], allow_download: bool = False, model: str = "",
                 part: str = "weights") -> T:
    """Call a transformers-style ``load(pretrained, local_files_only=..., cache_dir=...)``.

    ``pretrained`` is a local folder or a Hugging Face id. Without ``allow_download`` only the local cache is read
    (``local_files_only=True`` and huggingface_hub held offline), and a miss raises a ``ConfigError`` naming the
    model, where it looked and the command that fetches it. ``what`` is the config key, ``model`` the encoder (name
    and class) and ``part`` what is loaded (``weights``, ``processor``), all for the message.
    """
    local = Path(pretrained).expanduser()
    if pretrained.startswith(("/", ".", "~")) and not local.is_dir():
        raise ConfigError(f"{what}: {part} folder {local} does not exist ({model}: set pretrained to a saved model "
                          "folder or a Hugging Face id)")
    source = str(local) if local.is_dir() else pretrained
    try:
        with hub_offline(not allow_download):
            return load(source, local_files_only=not allow_download, cache_dir=str(hub_cache_dir()))
    except (OSError, ValueError) as exc:
        if local.is_dir():
            raise ConfigError(f"{what}: the folder {local} holds no loadable {part} for {model} "
                              f"{_reason(exc)}") from exc
        if allow_download:
            raise ConfigError(f"{what}: could not download {part} {pretrained!r} for {model} into {hub_cache_dir()} "
                              f"(allow_download is on) {_reason(exc)}") from exc
        raise missing_weights_error(what, pretrained, f"hf download {pretrained}", model, part, exc) from exc
