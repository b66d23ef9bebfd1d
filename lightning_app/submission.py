"""The challenges' submission files, one small function per format, and the DVD score computed
from them as the challenge computes it.

* DVD (the ABAW fine-grained violence detection track): one CSV per video, named like the video
  (``<id>.csv``), with the header ``Frame_Number,Predicted_Label`` and a row for every frame
  1..N (0 non-violent, 1 violent); all of them zipped into one archive.
* Aff-Wild2 VA: one text file per video or face track (``<name>.txt``), with the header
  ``valence,arousal`` and one line per frame.

The archive holds ``MISSING.txt`` naming the videos that could not be predicted, if any, so
that a missing file is never silent.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from lightning_app.errors import DataError
from lightning_app.files import atomic_write_text
from models.macro_f1 import binary_macro_f1

DVD_HEADER = ("Frame_Number", "Predicted_Label")
VA_HEADER = "valence,arousal"
MISSING_FILE = "MISSING.txt"


def write_dvd_predictions(path: Path, labels: np.ndarray) -> Path:
    """One video's frame labels (N,) 0/1 as the DVD track's CSV."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(DVD_HEADER)
    writer.writerows((frame, int(label)) for frame, label in enumerate(labels, start=1))
    return atomic_write_text(path, text.getvalue())


def read_dvd_predictions(path: Path) -> np.ndarray:
    """A DVD submission CSV -> its frame labels (N,), checking the header and that frames are
    numbered 1..N in order."""
    rows = list(csv.reader(path.read_text().splitlines()))
    if not rows or tuple(cell.strip() for cell in rows[0]) != DVD_HEADER:
        raise DataError(f"{path}: expected the header {','.join(DVD_HEADER)}")
    labels = np.empty(len(rows) - 1, np.uint8)
    for index, row in enumerate(rows[1:]):
        if len(row) != 2 or row[0].strip() != str(index + 1) or row[1].strip() not in ("0", "1"):
            raise DataError(f"{path}, line {index + 2}: expected '{index + 1},0' or '{index + 1},1', got {','.join(row)!r}")
        labels[index] = int(row[1])
    return labels


def write_va_predictions(path: Path, values: np.ndarray) -> Path:
    """One track's frame predictions (N, 2) as the Aff-Wild2 VA text file."""
    lines = [VA_HEADER] + [f"{valence:.6f},{arousal:.6f}" for valence, arousal in np.asarray(values, np.float64)]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def zip_submission(archive: Path, files: list[Path], missing: list[str]) -> Path:
    """The files, flat, in one zip archive, with ``MISSING.txt`` naming what could not be written."""
    tmp = archive.with_name(f".{archive.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in files:
            bundle.write(path, arcname=path.name)
        if missing:
            bundle.writestr(MISSING_FILE, "\n".join(missing) + "\n")
    tmp.replace(archive)
    return archive


def dvd_macro_f1(folder: Path, truth: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> float:
    """The DVD track's score of the submission in ``folder``: macro F1 over both classes, the
    annotated frames of all videos pooled. ``truth``: per video name, its frame labels and which
    frames are annotated. A video of ``truth`` with no file, or a file of another length, is an error."""
    predicted, actual = [], []
    for name, (labels, valid) in sorted(truth.items()):
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise DataError(f"{path}: no predictions for video {name}")
        guess = read_dvd_predictions(path)
        if len(guess) != len(labels):
            raise DataError(f"{path}: {len(guess)} frames predicted, the video has {len(labels)}")
        predicted.append(guess[valid])
        actual.append(np.asarray(labels)[valid])
    preds, targets = (torch.from_numpy(np.concatenate(part).astype(np.float32)) for part in (predicted, actual))
    return float(binary_macro_f1(preds, targets, threshold=0.5))
