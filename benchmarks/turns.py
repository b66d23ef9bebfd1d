"""Two benchmark processes taking turns, one epoch each, so that drifts in the machine's speed
(which on a shared VM move step times by 20-30 % within a minute) hit both sides alike.

The folder named by ``$BENCH_TURNS_DIR`` holds one empty file per finished epoch,
``<side>-<epoch>``. The ``first`` side runs epoch ``i`` once the ``second`` side has finished
epoch ``i - 1``; the ``second`` side runs epoch ``i`` once the ``first`` side has finished
epoch ``i``. A side marks an epoch finished only when its next epoch is about to start (or the
run ends), so validation and checkpoint saving after an epoch also stay out of the other's turn.
Without ``$BENCH_TURNS_DIR`` nothing waits.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import lightning.pytorch as pl

TURNS_DIR = "BENCH_TURNS_DIR"
FIRST, SECOND = "first", "second"
TIMEOUT_S = 600.0


class Turns:
    """Epoch turn-taking for one side (``first`` or ``second``)."""

    def __init__(self, side: str, folder: str | None = None):
        if side not in (FIRST, SECOND):
            raise ValueError(f"side must be {FIRST!r} or {SECOND!r}, got {side!r}")
        folder = folder if folder is not None else os.environ.get(TURNS_DIR)
        self.folder = Path(folder) if folder else None
        self.side, self.other = side, SECOND if side == FIRST else FIRST
        self._running: int | None = None

    def _mark(self, side: str, epoch: int) -> Path:
        return self.folder / f"{side}-{epoch}"

    def _wait(self, path: Path) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not path.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {TIMEOUT_S:.0f} s for {path}: the other benchmark process stopped")
            time.sleep(0.001)

    def start(self, epoch: int) -> None:
        """Finish the previous epoch's turn, then wait for this epoch's."""
        if self.folder is None:
            return
        self.finish()
        if self.side == FIRST and epoch > 0:
            self._wait(self._mark(SECOND, epoch - 1))
        elif self.side == SECOND:
            self._wait(self._mark(FIRST, epoch))
        self._running = epoch

    def finish(self) -> None:
        """Hand the turn over (the epoch that ran, with everything after it, is done)."""
        if self.folder is not None and self._running is not None:
            self._mark(self.side, self._running).touch()
            self._running = None

    def end(self, epochs: int) -> None:
        """After the last of ``epochs`` epochs: hand the turn over, and on the ``first`` side wait
        for the other's last epoch too, so that this process's exit does not slow it down."""
        if self.folder is None:
            return
        self.finish()
        if self.side == FIRST:
            self._wait(self._mark(SECOND, epochs - 1))


class TakeTurns(pl.Callback):
    """The Lightning side (``second``): waits before each training epoch. List it before
    ``callbacks.TrainTimer`` so that the waiting is not timed."""

    def __init__(self) -> None:
        self.turns = Turns(SECOND)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.turns.start(trainer.current_epoch)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.turns.finish()
