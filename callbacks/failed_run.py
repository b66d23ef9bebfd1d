"""A run that fails before it produced anything (e.g. a bad data root or config value found while setting up)
leaves no empty run behind: ``on_exception`` removes the empty version folder the run made (never one that holds a
checkpoint, metrics or a summary, nor the folder of a resumed fit), and finishes its W&B run with exit code 1, so
the W&B UI shows it as failed (an offline one too, once synced).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Optional

import lightning.pytorch as pl
from lightning.pytorch.loggers import CSVLogger, WandbLogger

# files that say the run produced something worth keeping
KEPT_IF_PRESENT = ("*.ckpt", "summary.json", "predictions*.csv")


def produced_something(folder: Path) -> bool:
    if any(next(folder.rglob(pattern), None) is not None for pattern in KEPT_IF_PRESENT):
        return True
    metrics = folder / "metrics.csv"
    return metrics.is_file() and len(metrics.read_text().splitlines()) > 1


def _run_folder(trainer: pl.Trainer) -> Optional[Path]:
    """The CSV logger's version folder (``log_dir`` neither creates it nor asks other ranks)."""
    return next((Path(logger.log_dir) for logger in trainer.loggers if isinstance(logger, CSVLogger)), None)


class FailedRunCleanup(pl.Callback):
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if trainer.global_rank != 0 or isinstance(exception, KeyboardInterrupt) or trainer.global_step > 0:
            return
        if trainer.state.fn == "fit" and trainer.ckpt_path:  # a resumed fit: its folder holds the run so far
            return
        folder = _run_folder(trainer)
        if folder is not None and folder.is_dir() and not produced_something(folder):
            shutil.rmtree(folder, ignore_errors=True)
        wandb = sys.modules.get("wandb")
        run = getattr(wandb, "run", None) if wandb is not None else None
        if run is None or not any(isinstance(logger, WandbLogger) for logger in trainer.loggers):
            return
        run.finish(exit_code=1)
