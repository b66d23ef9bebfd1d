"""Resuming a fit: which checkpoint ``--ckpt_path last`` means, and the run it belongs to.

A resumed fit continues in the run folder of its checkpoint (same CSV log version, so its metrics, summary and
checkpoints stay together) and in its W&B run, if any (the id is kept in the run folder's ``wandb_run.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from lightning_app.errors import ConfigError
from lightning_app.files import read_json

WANDB_RUN_FILE = "wandb_run.json"


def find_last_checkpoint(root: Path) -> Optional[Path]:
    """The most recently written ``last*.ckpt`` under ``root``'s run folders, if any."""
    candidates = [p for p in Path(root).glob("lightning_logs/version_*/checkpoints/last*.ckpt") if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def resolve_resume(ckpt_path: str, root: Path) -> Path:
    """``last`` -> the newest last checkpoint under ``root``; a path -> itself, which must exist."""
    if ckpt_path == "last":
        found = find_last_checkpoint(root)
        if found is None:
            raise ConfigError(f"--ckpt_path last: no last*.ckpt under {Path(root) / 'lightning_logs'}/version_*/checkpoints/")
        return found
    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigError(f"--ckpt_path {ckpt_path}: no such checkpoint")
    return path


def run_folder(checkpoint: Path) -> Optional[Path]:
    """``.../lightning_logs/version_3/checkpoints/last.ckpt`` -> ``.../lightning_logs/version_3``."""
    parent = checkpoint.parent
    return parent.parent if parent.name == "checkpoints" and parent.parent.name.startswith("version_") else None


def read_wandb_id(folder: Path) -> Optional[str]:
    return (read_json(folder / WANDB_RUN_FILE) or {}).get("id")


def write_wandb_id(folder: Path, run_id: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / WANDB_RUN_FILE).write_text(json.dumps({"id": run_id}) + "\n")
