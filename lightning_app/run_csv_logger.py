"""The run's CSV log, kept across a resume.

Lightning's CSV writer deletes an existing ``metrics.csv`` when it opens its folder, which would erase what a fit
resumed in that run folder logged before. This logger writes back the rows of epochs up to the checkpoint's; rows of
the epoch cut short (logged after the checkpoint) are dropped, as the resumed run trains that epoch again.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional

from lightning.pytorch.loggers import CSVLogger

from lightning_app.files import atomic_write_text
from lightning_app.lightning_internals import csv_log_started


def rows_up_to_epoch(path: Path, last_epoch: int) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a metrics.csv whose ``epoch`` is at most ``last_epoch``."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = [row for row in reader if _epoch(row) is not None and _epoch(row) <= last_epoch]
    return header, rows


def _epoch(row: dict[str, str]) -> Optional[int]:
    try:
        return int(float(row.get("epoch") or ""))
    except ValueError:
        return None


class RunCSVLogger(CSVLogger):
    """A ``CSVLogger`` that, given ``resume_epoch``, keeps the metrics logged up to that epoch."""

    def __init__(self, *args, resume_epoch: Optional[int] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._resume_epoch = resume_epoch

    @property
    def experiment(self):
        if csv_log_started(self) or self._resume_epoch is None:
            return super().experiment
        path = Path(self.log_dir) / "metrics.csv"
        kept = rows_up_to_epoch(path, self._resume_epoch) if path.is_file() else None
        writer = super().experiment  # removes metrics.csv (on rank 0)
        if kept and kept[0] and hasattr(writer, "metrics_keys"):
            header, rows = sorted(kept[0]), kept[1]  # the writer keeps its columns sorted
            text = io.StringIO()
            table = csv.DictWriter(text, fieldnames=header)
            table.writeheader()
            table.writerows(rows)
            atomic_write_text(path, text.getvalue())
            writer.metrics_keys = header
        return writer
