"""Shared fixtures: a small synthetic video dataset written once per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Tests never talk to W&B servers: runs made by the shipped configs stay offline files.
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("WANDB_SILENT", "true")

from datamodules.synthetic_videos import write_synthetic_dataset

TINY_ENCODERS = [
    "--model.video_encoder", "{name: videoprism-tiny}",
    "--model.clip_encoder", "{name: clip-tiny}",
    "--model.captioner", "{name: blip-tiny}",
    "--model.hidden_dim", "16",
]


@pytest.fixture(scope="session")
def clips_root(tmp_path_factory) -> Path:
    """Eight 32x32 clips of 3 to 4 s at 24 fps (two or three 64-frame windows each), two folds."""
    root = tmp_path_factory.mktemp("clips")
    write_synthetic_dataset(root, num_clips=8, size=32, fps=24, min_seconds=3, max_seconds=4, num_folds=2, seed=1)
    return root


def data_args(root: Path, **overrides) -> list[str]:
    """CLI arguments for a plain VideoWindowDataModule over ``root``."""
    init = {"root": str(root), "frame_size": 32, "num_workers": 0, "batch_size": 4, **overrides}
    args = ["--data", "datamodules.dvd.DVDDataModule"]
    for key, value in init.items():
        args += [f"--data.{key}", str(value)]
    return args


REPO = Path(__file__).resolve().parent.parent


def run_app(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """``python -m lightning_app ARGS`` as a user runs it, in a fresh process: W&B offline, and
    nothing inherited from runs this test process made in-process (their W&B service, their
    multi-run folders)."""
    from lightning_app.resumable_runs import PLAN_ENV

    clean = {k: v for k, v in os.environ.items() if "WANDB_SERVICE" not in k and k != PLAN_ENV}
    clean.update(WANDB_MODE="offline", WANDB_SILENT="true", **env)
    return subprocess.run([sys.executable, "-m", "lightning_app", *args], cwd=REPO, env=clean,
                          capture_output=True, text=True, timeout=timeout)
