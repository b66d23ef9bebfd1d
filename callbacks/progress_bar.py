"""The default progress bar: Lightning's rich bar, redrawn at most a few times a second.

Lightning's ``RichProgressBar`` updates its task, gathers the logged metrics (an ``.item()`` per progress-bar metric)
and refreshes the display after every batch, a large share of a small model's step. This bar does that work only
when ``interval_s`` has passed since the last time, and always on an epoch's last batch, so what it shows is at most
``interval_s`` old. Where the number of batches is not known in advance (``extract`` predicts over an iterable
dataset), the last batch is drawn when prediction ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Optional

from lightning.pytorch.callbacks import RichProgressBar


class ThrottledRichProgressBar(RichProgressBar):
    def __init__(self, interval_s: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        self.interval_s = interval_s
        self._drawn = 0.0
        self._undrawn_predict_batch: tuple | None = None

    def _due(self, batch_idx: int, total: Callable[[], Optional[float]]) -> bool:
        """Whether to draw this batch. A disabled bar (every DDP rank but 0) never draws, and must not ask for the
        batch totals: they are only known once a drawing bar has started its evaluation task."""
        if self.is_disabled:
            return False
        now = time.monotonic()
        count = total()
        last = count is not None and batch_idx + 1 >= count
        if last or now - self._drawn >= self.interval_s:
            self._drawn = now
            return True
        return False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._due(batch_idx, lambda: self.total_train_batches):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self._due(batch_idx, lambda: self.total_val_batches_current_dataloader):
            super().on_validation_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self._due(batch_idx, lambda: self.total_test_batches_current_dataloader):
            super().on_test_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self._due(batch_idx, lambda: self.total_predict_batches_current_dataloader):
            super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)
            self._undrawn_predict_batch = None
        elif not self.is_disabled:
            self._undrawn_predict_batch = (trainer, pl_module, None, None, batch_idx, dataloader_idx)

    def on_predict_end(self, trainer, pl_module) -> None:
        if self._undrawn_predict_batch is not None:  # the total was unknown, so the last batch was not forced
            super().on_predict_batch_end(*self._undrawn_predict_batch)
            self._undrawn_predict_batch = None
        super().on_predict_end(trainer, pl_module)
