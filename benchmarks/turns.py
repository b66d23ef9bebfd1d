"""Two benchmark processes taking turns, a few training steps each, so that drifts in the
machine's speed (which on a shared VM move step times by 20-30 % within seconds) hit both
sides alike.

The folder named by ``$BENCH_TURNS_DIR`` holds one empty file per finished turn,
``<side>-<turn>``. The ``first`` side runs turn ``t`` once the ``second`` side has finished
turn ``t - 1``; the ``second`` side runs turn ``t`` once the ``first`` side has finished turn
``t``. Without ``$BENCH_TURNS_DIR`` nothing waits.

``TurnClock`` cuts each epoch into turns of ``steps_per_turn`` steps and times every step,
leaving the waiting out: a step's time runs from the end of the step before it (or from the
end of the wait before it) to the end of its optimiser step. A turn that ends an epoch goes on
until the next epoch starts, so validation and checkpoint saving stay out of the other's turn.
``TakeTurns`` is the Lightning side's clock, as a callback.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

import lightning.pytorch as pl

TURNS_DIR = "BENCH_TURNS_DIR"
FIRST, SECOND = "first", "second"
TIMEOUT_S = 600.0
STEPS_NAME = "{side}-steps.json"


class Turns:
    """Turn-taking for one side (``first`` or ``second``)."""

    def __init__(self, side: str, folder: str | None = None):
        if side not in (FIRST, SECOND):
            raise ValueError(f"side must be {FIRST!r} or {SECOND!r}, got {side!r}")
        folder = folder if folder is not None else os.environ.get(TURNS_DIR)
        self.folder = Path(folder) if folder else None
        self.side, self.other = side, SECOND if side == FIRST else FIRST
        self._running: int | None = None

    def _mark(self, side: str, turn: int) -> Path:
        return self.folder / f"{side}-{turn}"

    def _wait(self, path: Path) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not path.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {TIMEOUT_S:.0f} s for {path}: the other benchmark process stopped")
            time.sleep(0.001)

    def start(self, turn: int) -> None:
        """Finish the previous turn, then wait for this one."""
        if self.folder is None:
            return
        self.finish()
        if self.side == FIRST and turn > 0:
            self._wait(self._mark(SECOND, turn - 1))
        elif self.side == SECOND:
            self._wait(self._mark(FIRST, turn))
        self._running = turn

    def finish(self) -> None:
        """Hand the turn over."""
        if self.folder is not None and self._running is not None:
            self._mark(self.side, self._running).touch()
            self._running = None

    def end(self, turns: int) -> None:
        """After the last of ``turns`` turns: hand the turn over, and on the ``first`` side wait
        for the other's last turn too, so that this process's exit does not slow it down."""
        if self.folder is None:
            return
        self.finish()
        if self.side == FIRST:
            self._wait(self._mark(SECOND, turns - 1))


class TurnClock:
    """Times each training step of one side, in turns of ``steps_per_turn`` steps of an epoch.

    Call ``epoch_start`` before an epoch's first batch is fetched, ``step_end`` after each
    optimiser step, and ``end`` when training ends. ``records`` holds one ``{"epoch", "turn",
    "seconds"}`` per step."""

    def __init__(self, side: str, steps_per_turn: int, folder: str | None = None):
        if steps_per_turn < 1:
            raise ValueError(f"steps_per_turn must be at least 1, got {steps_per_turn}")
        self.turns, self.steps_per_turn = Turns(side, folder), steps_per_turn
        self.records: list[dict] = []
        self._turn, self._epoch, self._last = -1, 0, 0.0

    def _next_turn(self) -> None:
        self._turn += 1
        self.turns.start(self._turn)
        self._last = time.perf_counter()

    def epoch_start(self, epoch: int) -> None:
        self._epoch = epoch
        self._next_turn()

    def step_end(self, batch_idx: int, steps_in_epoch: int) -> None:
        now = time.perf_counter()
        self.records.append({"epoch": self._epoch, "turn": self._turn, "seconds": now - self._last})
        self._last = now
        done = batch_idx + 1
        if done % self.steps_per_turn == 0 and done < steps_in_epoch:
            self._next_turn()

    def end(self) -> None:
        self.turns.end(self._turn + 1)


class TakeTurns(pl.Callback):
    """The Lightning side (``second``) of a benchmark: takes turns with the other process and
    times the steps (``TurnClock``); at the end of the fit writes them to
    ``$BENCH_TURNS_DIR/second-steps.json``. Needs no other timing callback."""

    def __init__(self, steps_per_turn: int = 10, folder: Optional[str] = None) -> None:
        self.clock = TurnClock(SECOND, steps_per_turn, folder)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock.epoch_start(trainer.current_epoch)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.clock.step_end(batch_idx, trainer.num_training_batches)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock.end()
        folder = self.clock.turns.folder
        if folder is not None and trainer.global_rank == 0:
            (folder / STEPS_NAME.format(side=SECOND)).write_text(json.dumps(self.clock.records))
