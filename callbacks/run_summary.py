"""Writes ``summary.json`` at the end of every fit / validate / test run and prints a table.

After ``fit`` the summary holds the metrics of the best checkpoint, re-validated (the command line runs that
validation), plus the last epoch's metrics under ``last_epoch``; after ``validate`` or ``test``, the metrics of that
run. Keys are the logged metric names (``val/f1``, ``test/auroc``, ...), plus ``stage``, ``ckpt_path``,
``monitor``, ``config_hash``, ``seed`` and ``environment`` (Python and package versions, the project's git commit).
The resolved config (``config.yaml``) and the folds (``folds.json``) sit in the same folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import lightning.pytorch as pl
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from callbacks.provenance import environment
from lightning_app.checkpoint_file import checkpoint_epoch
from lightning_app.files import atomic_write_text
from lightning_app.terminal import print_table

SUMMARY_NAME = "summary.json"


def run_dir(trainer: pl.Trainer) -> Path:
    """The run's log directory, or the trainer's root directory when there is no logger. ``trainer.log_dir``
    broadcasts from rank 0 under DDP: call this on every rank."""
    return Path(trainer.log_dir or trainer.default_root_dir)


def _plain(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    out = {}
    for key, value in sorted(metrics.items()):
        if key.startswith(prefix) and not key.endswith("_step"):
            number = float(value)
            out[key.removesuffix("_epoch")] = number if math.isfinite(number) else None
    return out


class RunSummary(pl.Callback):
    def __init__(self, config_hash: Optional[str] = None, seed: Optional[int] = None):
        self.config_hash = config_hash
        self.seed = seed
        self._fit: Optional[dict[str, Any]] = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        checkpoint = trainer.checkpoint_callback
        best = getattr(checkpoint, "best_model_path", "") or None
        fit = {"epochs": trainer.current_epoch, "best_epoch": checkpoint_epoch(best) if best else None,
               "last_epoch": _plain(trainer.callback_metrics, "val/")}
        # with a best checkpoint, the command line validates it next and that run completes this summary and prints
        # the table, once
        self._fit = fit if best else None
        self._write(run_dir(trainer), trainer, "fit", fit["last_epoch"], best,
                    extra={k: fit[k] for k in ("epochs", "best_epoch")}, show=not best)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "validate":
            return
        if self._fit is not None:  # the validation of the best checkpoint that closes a fit
            fit, self._fit = self._fit, None
            self._write(run_dir(trainer), trainer, "fit", _plain(trainer.callback_metrics, "val/"), trainer.ckpt_path,
                        extra=fit)
        else:
            self._write(run_dir(trainer), trainer, "validate", _plain(trainer.callback_metrics, "val/"),
                        trainer.ckpt_path)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(run_dir(trainer), trainer, "test", _plain(trainer.callback_metrics, "test/"), trainer.ckpt_path)

    @rank_zero_only
    def _write(self, directory: Path, trainer, stage: str, metrics: dict, ckpt_path, extra: Optional[dict] = None,
               show: bool = True) -> None:
        checkpoint = trainer.checkpoint_callback
        summary = {"stage": stage, **metrics, "ckpt_path": str(ckpt_path) if ckpt_path else None,
                   "monitor": getattr(checkpoint, "monitor", None), "config_hash": self.config_hash, "seed": self.seed,
                   **(extra or {}), "environment": environment()}
        directory.mkdir(parents=True, exist_ok=True)
        path = atomic_write_text(directory / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
        for logger in trainer.loggers:  # the W&B run summary gets the same numbers
            if isinstance(logger, WandbLogger):
                logger.experiment.summary.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str))})
        if show:
            rows = [(key, "nan" if value is None else f"{value:.4f}") for key, value in metrics.items()]
            print_table(f"{stage} summary", ("metric", "value"), rows, caption=str(path))
