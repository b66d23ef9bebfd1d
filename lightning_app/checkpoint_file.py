"""Reading a checkpoint file the user named, with one clear error for every way it can be wrong.

Loaded with ``weights_only=True`` (no code runs) and memory-mapped, so checking even a large checkpoint reads only
its header. Nothing here writes to the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lightning_app.errors import ConfigError

# ckpt_path values that Lightning resolves itself, from the trainer's own checkpoint callbacks
LIGHTNING_ALIASES = ("best", "last", "hpc", "registry")


def load_checkpoint_file(path: str | Path, flag: str = "--ckpt_path") -> dict[str, Any]:
    """The checkpoint's contents; ``ConfigError`` when the file is missing, unreadable (truncated,
    not a torch file) or not a Lightning checkpoint of a model."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{flag} {path}: no such checkpoint")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # truncated, empty, or another kind of file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"{flag} {path}: not a readable checkpoint, truncated or not written by fit ({reason})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise ConfigError(f"{flag} {path}: a torch file but not a checkpoint written by fit (no model state or hyperparameters)")
    return checkpoint


def checkpoint_epoch(checkpoint: str | Path) -> int:
    """The (0-based) epoch a checkpoint was written in."""
    return int(load_checkpoint_file(checkpoint).get("epoch", 0))
