"""DVD violence datasets, in one of two layouts:

* the release of the ABAW fine-grained violence detection track (``Training/``, ``Validation/``,
  ``Test/``, each ``videos/`` and ``annotations/``: ``datamodules/dvd_release.py``), found by
  its folders when the root holds no manifest;
* any folder of videos with a manifest CSV (``--data.manifest``, ``manifest.csv`` in the data
  root by default) with a header row and one row per video::

    video,fold,segments
    clips/fight_001.mp4,0,12-40;100-130
    clips/walk_017.mp4,3,
    clips/street_002.mp4,1,0-64

* ``video`` (required): path relative to the data root, each video once; a path leading
  outside the root (absolute, or through ``..``) is refused unless ``--data.allow_outside_root``.
* one label column (the first present, in this order): ``segments``, violent frame ranges
  ``START-END`` (0-based, END exclusive) joined by ``;``, empty for a non-violent video;
  ``frame_labels``, a text file (relative to the root) with one 0/1 per frame; ``label``, one
  0/1 for the whole video.
* ``fold`` (optional): fixes the folds; without it folds are assigned (seeded, stratified by
  whether a video has any violent frame).
* A missing video is an error, or, with ``--data.on_bad_video skip``, left out and counted in
  ``folds.json``.
* ``split`` (optional): ``train`` / ``val`` / ``test``; ``test`` videos are held out of the
  folds, and ``--data.split_mode official`` trains on ``train`` and validates on ``val``.

To adapt another manifest format, rewrite ``row_labels`` below, the one place that turns a
manifest row into frame labels.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import replace
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from lightning.pytorch.utilities import rank_zero_warn

from datamodules.dvd_release import is_release_layout, release_records
from datamodules.labels import (
    FrameTargets,
    constant_targets,
    fit_to_frames,
    parse_segments,
    segment_targets,
    violence_window_target,
)
from datamodules.records import VideoRecord
from datamodules.video_io import VIDEO_EXTENSIONS
from datamodules.window_datamodule import WindowDataModule
from lightning_app.errors import ConfigError, DataError
from lightning_app.files import atomic_write_text

MANIFEST_NAME = "manifest.csv"
FoldSplits = Literal["training", "training+validation"]
LABEL_COLUMNS = ("segments", "frame_labels", "label")


def _read_frame_label_file(path: Path, num_frames: int, tolerance: int) -> FrameTargets:
    if not path.is_file():
        raise DataError(f"frame label file not found: {path}")
    values = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        if line.strip() not in ("0", "1"):
            raise DataError(f"{path}, line {line_number}: expected 0 or 1, got {line.strip()[:40]!r}")
        values.append(float(line.strip()))
    targets = FrameTargets(np.asarray(values, np.float32).reshape(-1, 1), np.ones(len(values), bool))
    try:
        return fit_to_frames(targets, num_frames, tolerance)
    except ValueError as error:
        raise DataError(f"{path}: {error}") from None


def _targets_from_segments(segments, where: str, tolerance: int, num_frames: int) -> FrameTargets:
    try:
        return segment_targets(segments, num_frames, tolerance)
    except ValueError as error:
        raise DataError(f"{where}: {error}") from None


def inside_root(value: str, root: Path, where: str, allow_outside: bool) -> Path:
    """A manifest path resolved against ``root``; one that leads outside it (absolute, or
    through ``..``) is refused unless ``allow_outside``."""
    path = Path(value) if Path(value).is_absolute() else root / value
    if not allow_outside and not path.resolve().is_relative_to(root.resolve()):
        raise DataError(f"{where}: {value!r} is outside the dataset root {root}; set --data.allow_outside_root true "
                        "if that is intended")
    return path


def row_labels(row: dict[str, str], root: Path, where: str, tolerance: int, allow_outside: bool = False):
    """One manifest row -> (frame-label loader given the frame count, stratum for folds)."""
    column = next((c for c in LABEL_COLUMNS if c in row), None)
    value = (row.get(column) or "").strip() if column else ""
    if column == "segments":
        try:
            segments = parse_segments(value)
        except ValueError as error:
            raise DataError(f"{where}: {error}") from None
        return functools.partial(_targets_from_segments, segments, where, tolerance), int(bool(segments))
    if column == "frame_labels":
        path = inside_root(value, root, where, allow_outside)
        return functools.partial(_read_frame_label_file, path, tolerance=tolerance), None
    if value not in ("0", "1"):
        raise DataError(f"{where}: label must be 0 or 1, got {value!r}")
    return functools.partial(constant_targets, int(value)), int(value)


def read_manifest(path: Path, root: Path, tolerance: int = 0, allow_outside: bool = False,
                  skipped: Optional[list[str]] = None) -> list[VideoRecord]:
    """Records of a manifest CSV, video paths resolved against ``root`` (and kept inside it
    unless ``allow_outside``). Two rows naming one file (``a.mp4`` and ``./a.mp4``, or through a
    link) are an error: the video would be labelled twice and could land in two folds. A row
    whose video does not exist is an error, or, given a ``skipped`` list, described in it."""
    if not path.is_file():
        videos = [p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS] if root.is_dir() else []
        found = f"{len(videos)} video file(s) under {root} but " if videos else f"no videos under {root} and "
        raise DataError(f"{found}no manifest: {path} not found (expected a CSV with a video column and one of "
                        f"{', '.join(LABEL_COLUMNS)}), and {root} is not the DVD release layout (Training/videos, "
                        "Training/annotations, Validation/...); see datamodules/dvd.py")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        if "video" not in header or not any(c in header for c in LABEL_COLUMNS):
            raise DataError(f"manifest {path} needs a video column and one of {', '.join(LABEL_COLUMNS)}; header is {header}")
        records, lines = [], {}
        for line, row in enumerate(reader, start=2):
            where = f"manifest {path}, line {line}"
            video = inside_root(row["video"], root, where, allow_outside)
            if not video.is_file():
                if skipped is None:
                    raise DataError(f"{where}: video not found: {video} (set --data.on_bad_video skip to leave "
                                    "missing videos out)")
                skipped.append(f"{row['video']}: {where}: video not found: {video}")
                continue
            first = lines.setdefault(video.resolve(), line)
            if first != line:
                raise DataError(f"{where}: {row['video']!r} is the video of line {first} again; list each video once")
            fold: Optional[int] = None
            if (row.get("fold") or "").strip():
                try:
                    fold = int(row["fold"])
                except ValueError:
                    raise DataError(f"{where}: fold must be an integer, got {row['fold']!r}") from None
            loader, stratum = row_labels(row, root, where, tolerance, allow_outside)
            records.append(VideoRecord(
                video_id=row["video"], path=video, load_targets=loader, fold=fold,
                split=(row.get("split") or "").strip().lower(), stratum=stratum,
            ))
    if not records:
        raise DataError(f"no videos found: manifest {path} lists no rows"
                        + (f" whose video exists ({len(skipped)} missing)" if skipped else ""))
    return records


def write_manifest(path: str | Path, rows: list[dict]) -> None:
    """Write manifest rows (dicts keyed by column), atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


class DVDDataModule(WindowDataModule):
    """Violence detection windows from the DVD release layout or a manifest (see the module docstring).

    Args:
        manifest: manifest CSV, relative to ``root`` (without one, ``root`` must be the DVD release).
        fold_splits: with the release and ``split_mode: folds``, what the folds divide:
            ``training`` (the official Validation videos are then the test split) or
            ``training+validation`` (both, no test split).
        violent_fraction: a window is violent when at least this fraction of its frames are.
        max_frame_mismatch: per-frame label files may differ from the video's frame count by
            this many frames (extra rows dropped, missing frames unlabelled), and segments may end
            this many frames past the video's end; more is an error.
        allow_outside_root: let manifest paths lead outside ``root`` (absolute or ``..``).
    """

    task = "violence"

    def __init__(self, root: str, manifest: str = MANIFEST_NAME, fold_splits: FoldSplits = "training",
                 violent_fraction: float = 0.5, max_frame_mismatch: int = 0, allow_outside_root: bool = False,
                 **kwargs):
        super().__init__(root=root, **kwargs)
        if fold_splits not in ("training", "training+validation"):
            raise ConfigError(f"--data.fold_splits must be training or training+validation, got {fold_splits!r}")
        self.fold_splits = fold_splits
        self.allow_outside_root = allow_outside_root
        self.manifest = manifest
        if not 0.0 < violent_fraction <= 1.0:
            raise ConfigError(f"--data.violent_fraction must be in (0, 1], got {violent_fraction}")
        self.violent_fraction = violent_fraction
        self.max_frame_mismatch = max_frame_mismatch

    def load_records(self) -> list[VideoRecord]:
        missing: Optional[list[str]] = [] if self.on_bad_video == "skip" else None
        if not (self.root / self.manifest).is_file() and is_release_layout(self.root):
            records = release_records(self.root, self.max_frame_mismatch, skipped=missing)
            if self.split_mode == "folds":  # the folds divide Training, or Training and Validation
                held_out = "test" if self.fold_splits == "training" else ""
                records = [replace(r, split=held_out if r.split == "val" else "") for r in records]
        else:
            records = read_manifest(self.root / self.manifest, self.root, self.max_frame_mismatch,
                                    self.allow_outside_root, skipped=missing)
        for message in missing or []:  # counted in folds.json with the unreadable videos
            self.skipped["videos"].append(message)
            rank_zero_warn(f"skipping {message}")
        return records

    def window_target(self, values, valid):
        target = violence_window_target(values, valid, self.violent_fraction)
        return None if target is None else np.array([target], np.float32)
