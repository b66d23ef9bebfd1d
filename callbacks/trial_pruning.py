"""Stops a sweep trial's fit early when Optuna's pruner says it is not promising, on every DDP rank at once.

After each validation, rank 0 reports the monitored metric to the trial (step = epoch) and asks the pruner; the
decision is broadcast (``trainer.strategy.broadcast``), so all ranks stop after the same epoch; ``pruned_at`` holds
that epoch. ``lightning_app/sweep.py`` hands the callback to each trial's fit (``cli_main(callbacks=...)``), so trial
configs stay plain ``fit`` configs.
"""

from __future__ import annotations

from typing import Any, Optional

import lightning.pytorch as pl
from lightning.pytorch.trainer.states import TrainerFn


class TrialPruning(pl.Callback):
    """``trial``: an Optuna trial (rank 0; None on other ranks, which follow rank 0's decision); ``monitor``: the
    metric reported after each validation epoch."""

    def __init__(self, monitor: str, trial: Optional[Any] = None):
        self.monitor, self.trial = monitor, trial
        self.pruned_at: Optional[int] = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # during fit only (not the validation of the best checkpoint that closes it), and once pruned, no more
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING or self.pruned_at is not None:
            return
        prune = False
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.is_global_zero and self.trial is not None and value is not None:
            self.trial.report(float(value), step=trainer.current_epoch)
            prune = bool(self.trial.should_prune())
        if trainer.strategy.broadcast(prune, src=0):  # every rank stops after this epoch
            self.pruned_at = trainer.current_epoch
            trainer.should_stop = True

