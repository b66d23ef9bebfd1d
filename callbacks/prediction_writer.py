"""Writes window predictions of ``predict`` to a CSV file in the run directory."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BasePredictionWriter

from callbacks.run_summary import run_dir
from lightning_app.files import atomic_write_text


class WindowPredictionWriter(BasePredictionWriter):
    """One row per window, in dataset order: video, first frame, end frame (exclusive), then the task's predictions
    and targets (``probability``, ``label`` for violence; ``valence``, ``arousal``, ``target_valence``,
    ``target_arousal`` for valence-arousal).

    Args:
        output_dir: folder of the CSV; defaults to the run's log directory.
        filename: file name; under DDP each rank writes ``<stem>.rank<k>.csv``.
    """

    def __init__(self, output_dir: Optional[str] = None, filename: str = "predictions.csv"):
        super().__init__(write_interval="epoch")
        self.output_dir = output_dir
        self.filename = filename
        self.path: Optional[Path] = None

    def write_on_epoch_end(self, trainer: pl.Trainer, pl_module, predictions, batch_indices) -> None:
        directory = Path(self.output_dir) if self.output_dir else run_dir(trainer)
        directory.mkdir(parents=True, exist_ok=True)
        name = Path(self.filename)
        if trainer.world_size > 1:
            name = name.with_name(f"{name.stem}.rank{trainer.global_rank}{name.suffix}")
        batches = predictions[0] if predictions and isinstance(predictions[0], list) else predictions
        indices = batch_indices[0] if batch_indices and isinstance(batch_indices[0], list) else batch_indices
        columns = list(batches[0]) if batches else []
        rows = [row for batch in batches for row in zip(*(batch[c] for c in columns))]
        rows = in_dataset_order(rows, indices)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows(rows)
        self.path = atomic_write_text(directory / name, buffer.getvalue())


def in_dataset_order(rows: list, batch_indices) -> list:
    """``rows`` (one per window, in the order the loader gave them, which may not be the dataset's:
    ``datamodules/eval_order.py``) sorted by dataset index, each index once (a DDP sampler pads a rank with repeated
    windows), when Lightning knows every batch's indices; else as they came."""
    flat = [index for batch in batch_indices or [] for index in (batch if isinstance(batch, list) else [batch])]
    if len(flat) != len(rows) or not all(isinstance(index, int) for index in flat):
        return rows
    by_index = {}
    for index, row in zip(flat, rows):
        by_index.setdefault(index, row)
    return [by_index[index] for index in sorted(by_index)]
