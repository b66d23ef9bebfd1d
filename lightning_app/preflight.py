"""Checks run before long work starts: can the output folder be written, and is there room. They fail in the first
second, naming the folder and what it needs, rather than after hours on a read-only folder or a full disk."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from torch import nn

from lightning_app.errors import ConfigError

MiB = 1 << 20
# room for logs, summaries, plots and config files beside the checkpoints
LOG_MARGIN = 64 * MiB


def existing_parent(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(folder: str | Path, key: str) -> Path:
    """Create ``folder`` if needed and write and remove a probe file in it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{key} {folder}: cannot write there ({exc.strerror or exc}); choose a writable folder") from exc
    return folder


def check_free_space(folder: str | Path, need: int, key: str, what: str) -> int:
    """Raise when the file system holding ``folder`` has less than ``need`` bytes free."""
    free = shutil.disk_usage(existing_parent(Path(folder))).free
    if free < need:
        raise ConfigError(f"{key} {folder}: {free / MiB:.0f} MiB free on its disk, "
                          f"{what} needs about {need / MiB:.0f} MiB; free some space or choose another folder")
    return free


def checkpoint_bytes(model: nn.Module) -> int:
    """A checkpoint's size: the trainable weights plus AdamW's two moments for each."""
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return 3 * trainable + buffers + MiB


def cache_bytes(windows: int, dims: dict[str, int], counts: dict[str, int]) -> int:
    """The size of ``windows`` cached windows: float32 features of every stream, plus index rows."""
    per_window = sum(4 * counts[name] * dims[name] for name in dims) + 16
    return windows * per_window


def check_cache_folder(folder: str | Path, windows: int, dims: dict[str, int], counts: dict[str, int]) -> None:
    """Before ``extract``: the cache folder is writable and holds the features still to write."""
    key = "--data.cache_dir"
    check_writable(folder, key)
    need = cache_bytes(windows, dims, counts) + LOG_MARGIN
    check_free_space(folder, need, key, f"the features of {windows} window(s)")


def check_run_folder(folder: str | Path, model: nn.Module, checkpoints: int) -> None:
    """Before ``fit``: the run folder is writable and holds ``checkpoints`` checkpoints plus logs."""
    key = "--trainer.default_root_dir"
    check_writable(folder, key)
    need = checkpoints * checkpoint_bytes(model) + LOG_MARGIN
    check_free_space(folder, need, key, f"a run ({checkpoints} checkpoint(s) and logs)")
