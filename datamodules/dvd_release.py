"""The DVD dataset as released for the ABAW fine-grained violence detection track (Kollias et al.
2025, arXiv 2506.05372: 500 videos, frame-level labels)::

    ROOT/Training/videos/<id>.mp4      ROOT/Training/annotations/<id>.csv
    ROOT/Validation/videos/<id>.mp4    ROOT/Validation/annotations/<id>.csv
    ROOT/Test/videos/<id>.mp4          (no annotations)

An annotation file holds one row per frame: ``Frame_Number`` (1-based) and ``Label`` (0
non-violent, 1 violent). Column names are matched case-insensitively, a ``.txt`` extension is
accepted, and a file without a header is read only when it is unambiguous (two columns, the
first numbering the frames 1, 2, 3, ...). Folder names are matched case-insensitively too.
``read_annotation`` is the one function that reads the format.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import Optional

import numpy as np

from datamodules.labels import FrameTargets, fit_to_frames
from datamodules.records import VideoRecord
from datamodules.video_io import VIDEO_EXTENSIONS
from lightning_app.errors import DataError

# the release's folders and the split each is
SPLIT_FOLDERS = {"Training": "train", "Validation": "val", "Test": "test"}
ANNOTATION_SUFFIXES = (".csv", ".txt")
COLUMNS = ("frame_number", "label")


def child(folder: Path, name: str) -> Optional[Path]:
    """``folder/name``, its name matched case-insensitively; None if there is none."""
    if not folder.is_dir():
        return None
    return next((p for p in sorted(folder.iterdir()) if p.name.lower() == name.lower()), None)


def is_release_layout(root: Path) -> bool:
    training = child(root, "Training")
    return training is not None and child(training, "videos") is not None


def read_annotation(path: Path) -> np.ndarray:
    """One annotation file -> its frames' labels (N,) uint8, checked: the columns, 0/1 labels,
    frames numbered 1..N in order. Every problem is a ``DataError`` naming the file and line."""
    try:
        rows = [row for row in csv.reader(path.read_text().splitlines()) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"cannot read annotation file {path}: {error}") from None
    if not rows:
        raise DataError(f"annotation file {path} is empty (expected a header Frame_Number,Label and a row per frame)")
    names = [cell.strip().lower() for cell in rows[0]]
    if all(name in names for name in COLUMNS):
        frame_col, label_col = names.index("frame_number"), names.index("label")
        body, first_line = rows[1:], 2
    elif len(rows[0]) == 2 and all(cell.strip().isdigit() for cell in rows[0]) and rows[0][0].strip() == "1":
        frame_col, label_col, body, first_line = 0, 1, rows, 1  # no header, unambiguous
    else:
        raise DataError(f"annotation file {path}: expected the columns Frame_Number and Label, got "
                        f"{','.join(cell.strip() for cell in rows[0])[:80]!r}")
    labels = np.empty(len(body), np.uint8)
    for index, row in enumerate(body):
        line = first_line + index
        try:
            frame, label = row[frame_col].strip(), row[label_col].strip()
        except IndexError:
            raise DataError(f"{path}, line {line}: expected {len(names)} columns, got {len(row)}") from None
        if label not in ("0", "1"):
            raise DataError(f"{path}, line {line}: Label must be 0 or 1, got {label[:20]!r}")
        if frame != str(index + 1):
            expected = "frames are numbered from 1" if index == 0 else f"frame {index + 1} should follow frame {index}"
            raise DataError(f"{path}, line {line}: Frame_Number {frame[:20]!r}, but {expected} (one row per frame, "
                            "in order, no gaps)")
        labels[index] = int(label)
    if not len(labels):
        raise DataError(f"annotation file {path} has a header but no frame rows")
    return labels


def fitted_targets(labels: np.ndarray, path: Path, tolerance: int, num_frames: int) -> FrameTargets:
    """An annotation's labels matched to the decoded frame count (``labels.fit_to_frames``)."""
    targets = FrameTargets(labels.astype(np.float32).reshape(-1, 1), np.ones(len(labels), bool))
    try:
        return fit_to_frames(targets, num_frames, tolerance)
    except ValueError as error:
        raise DataError(f"{path}: {error}; set --data.max_frame_mismatch to accept small differences") from None


def _files(folder: Optional[Path], suffixes) -> dict[str, Path]:
    if folder is None or not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in suffixes:
            if path.stem in found:
                raise DataError(f"{folder}: {found[path.stem].name} and {path.name} are two files for one video")
            found[path.stem] = path
    return found


def split_files(root: Path, split: str) -> tuple[dict[str, Path], dict[str, Path]]:
    """A release folder's (``Training``, ``Validation``, ``Test``) videos and annotation files,
    each by name; empty where the folder or its subfolder is not there."""
    folder = child(root, split)
    return (_files(child(folder, "videos") if folder else None, VIDEO_EXTENSIONS),
            _files(child(folder, "annotations") if folder else None, ANNOTATION_SUFFIXES))


def release_records(root: Path, tolerance: int, skipped: Optional[list[str]] = None) -> list[VideoRecord]:
    """A record per annotated video of Training and Validation (split ``train`` / ``val``). A video
    without annotation, or an annotation without video, is a ``DataError``, or, given a
    ``skipped`` list, described in it."""
    records = []
    for folder_name in ("Training", "Validation"):
        folder = child(root, folder_name)
        if folder is None:
            if folder_name == "Training":
                raise DataError(f"{root}: no Training folder (the DVD release has Training/, Validation/, Test/)")
            continue
        videos, annotations = split_files(root, folder_name)
        for name in sorted(set(videos) | set(annotations)):
            if name not in annotations or name not in videos:
                problem = (f"video without annotation: {videos[name]} (expected {folder}/annotations/{name}.csv)"
                           if name in videos else
                           f"annotation without video: {annotations[name]} (expected {folder}/videos/{name}.mp4)")
                if skipped is None:
                    raise DataError(f"{problem}; set --data.on_bad_video skip to leave it out")
                skipped.append(problem)
                continue
            try:
                labels = read_annotation(annotations[name])
            except DataError as error:
                if skipped is None:
                    raise DataError(f"{error} (set --data.on_bad_video skip to leave such videos out)") from None
                skipped.append(str(error))
                continue
            records.append(VideoRecord(
                video_id=f"{folder.name}/{name}", path=videos[name], split=SPLIT_FOLDERS[folder_name],
                load_targets=functools.partial(fitted_targets, labels, annotations[name], tolerance),
                stratum=int(labels.any())))
    if not records:
        raise DataError(f"{root}: no annotated video in Training/ or Validation/")
    return records
