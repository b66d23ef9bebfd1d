"""Offline loading of pretrained weights, with one clear error when they are missing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from lightning_app.errors import ConfigError

T = TypeVar("T")


def load_offline(what: str, pretrained: str, load: Callable[..., T]) -> T:
    """Call a transformers-style ``load(pretrained, local_files_only=True)``.

    ``pretrained`` is a local folder or a Hugging Face id already in the local cache.
    Nothing is downloaded; a miss raises a ``ConfigError`` saying where it looked and how
    to fetch the weights on a machine with network.
    """
    local = Path(pretrained).expanduser()
    if pretrained.startswith(("/", ".", "~")) and not local.is_dir():
        raise ConfigError(f"{what}: weights folder {local} does not exist (set pretrained to a saved model folder or a Hugging Face id)")
    try:
        return load(str(local) if local.is_dir() else pretrained, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{what}: weights {pretrained!r} are neither a local folder nor in the Hugging Face cache "
            f"(looked offline, nothing is downloaded). On a machine with network run "
            f"`hf download {pretrained}` (or save the model to a folder) and point the config at it. "
            f"[{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}]"
        ) from exc
