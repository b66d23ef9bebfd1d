"""Time spent in each training epoch's steps, for throughput figures and benchmarks.

Measured from the start of the training epoch to the end of its last optimiser step: batch loading, forward,
backward, optimiser and per-step hooks, but not the validation Lightning runs inside the epoch, nor checkpoint
saving. Each epoch's figures are logged as ``time/train_step_ms`` and ``time/train_epoch_s`` and written to
``timing.json`` in the run folder when the fit ends.

    python -m lightning_app fit --config dvd.yaml --trainer.callbacks+=callbacks.TrainTimer
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from lightning_app.files import atomic_write_text

TIMING_NAME = "timing.json"


class TrainTimer(pl.Callback):
    def __init__(self) -> None:
        self.epochs: list[dict[str, Any]] = []
        self._start = self._last = 0.0
        self._steps = 0
        self._step_seconds: list[float] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = self._last = time.perf_counter()
        self._steps = 0
        self._step_seconds = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        self._step_seconds.append(now - self._last)
        self._last = now
        self._steps += 1

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._steps:
            return
        seconds = self._last - self._start
        record = {"epoch": trainer.current_epoch, "steps": self._steps, "seconds": seconds,
                  "step_ms": 1000 * seconds / self._steps,
                  "step_ms_median": 1000 * statistics.median(self._step_seconds)}
        self.epochs.append(record)
        pl_module.log_dict({"time/train_step_ms": record["step_ms"], "time/train_epoch_s": seconds},
                           on_step=False, on_epoch=True, sync_dist=False, rank_zero_only=True)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        folder = trainer.log_dir or trainer.default_root_dir  # every rank asks (a collective under DDP)
        if trainer.global_rank == 0 and self.epochs:
            Path(folder).mkdir(parents=True, exist_ok=True)
            atomic_write_text(Path(folder) / TIMING_NAME, json.dumps({"epochs": self.epochs}, indent=2) + "\n")
