"""Aff-Wild2 valence-arousal: the challenge's annotation layout.

    ROOT/
      <any folders>/<video>.mp4 | .avi | ...          the videos, found recursively
      VA_Estimation_Challenge/                        (or annotations/VA_Estimation_Challenge)
        Train_Set/<video>.txt
        Validation_Set/<video>.txt
        Test_Set/<video>.txt                          (optional)

An annotation file has the header ``valence,arousal`` and one line per video frame, values in
[-1, 1]; -5 marks a frame without a valid annotation (ignored in targets, loss and metrics).
``<video>_left.txt`` and ``<video>_right.txt`` are two faces of one video: two records, one fold.

Videos without an annotation file (the challenge's test videos) are left out and counted. An
annotation file without its video, an unparsable line, a value outside [-1, 1] other than -5, or
a frame count off by over ``max_frame_mismatch`` is an error naming the file (with
``on_bad_video: skip``, the record is left out with a warning).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

import numpy as np
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from datamodules.labels import INVALID_VA, FrameTargets, fit_to_frames, va_window_target
from datamodules.records import VideoRecord
from datamodules.video_io import VIDEO_EXTENSIONS
from datamodules.window_datamodule import WindowDataModule
from lightning_app.errors import DataError

ANNOTATION_DIRS = ("VA_Estimation_Challenge", "annotations/VA_Estimation_Challenge")
SPLIT_DIRS = {"Train_Set": "train", "Validation_Set": "val", "Test_Set": "test"}
FACE_SUFFIXES = ("_left", "_right")
HEADER = "valence,arousal"


def read_va_file(path: Path) -> FrameTargets:
    """Parse one annotation file; -5 (in either column) marks an invalid frame."""
    lines = path.read_text().splitlines()
    if not lines or lines[0].strip().replace(" ", "").lower() != HEADER:
        raise DataError(f"{path}, line 1: expected the header {HEADER!r}, got {lines[0][:60] if lines else ''!r}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            valence, arousal = (float(x) for x in line.split(","))
        except ValueError:
            raise DataError(f"{path}, line {number}: expected two numbers 'valence,arousal', got {line.strip()[:60]!r}") from None
        for value in (valence, arousal):
            if value != INVALID_VA and not -1.0 <= value <= 1.0:
                raise DataError(f"{path}, line {number}: value {value} is outside [-1, 1] and not the invalid marker -5")
        rows.append((valence, arousal))
    values = np.asarray(rows, np.float32).reshape(-1, 2)
    valid = (values != INVALID_VA).all(axis=1)
    values[~valid] = 0.0
    return FrameTargets(values, valid)


def fitted_va_targets(path: Path, tolerance: int, num_frames: int) -> FrameTargets:
    """An annotation file's targets matched to the decoded frame count (``labels.fit_to_frames``)."""
    try:
        return fit_to_frames(read_va_file(path), num_frames, tolerance)
    except ValueError as error:
        raise DataError(f"{path}: {error}") from None


def video_stem(annotation_stem: str) -> str:
    """``video10_left`` -> ``video10``; other names are the video's own."""
    for suffix in FACE_SUFFIXES:
        if annotation_stem.endswith(suffix):
            return annotation_stem[: -len(suffix)]
    return annotation_stem


def find_annotation_dir(root: Path, annotations_dir: Optional[str]) -> Path:
    candidates = [annotations_dir] if annotations_dir else list(ANNOTATION_DIRS)
    for candidate in candidates:
        if (root / candidate).is_dir():
            return root / candidate
    raise DataError(f"no Aff-Wild2 annotations under {root}: looked for {', '.join(str(root / c) for c in candidates)} "
                    "(set --data.annotations_dir)")


def find_videos(root: Path, annotation_root: Path) -> dict[str, Path]:
    """The videos under ``root`` (outside the annotations), by name; the first of a name wins."""
    videos: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in VIDEO_EXTENSIONS and annotation_root not in path.parents:
            videos.setdefault(path.stem, path)
    return videos


def read_layout(root: Path, annotations_dir: Optional[str], tolerance: int, on_bad_video: str) -> tuple[list[VideoRecord], list[str]]:
    """Records of all annotation files, and the names of videos without one."""
    annotation_root = find_annotation_dir(root, annotations_dir)
    videos = find_videos(root, annotation_root)
    records, used = [], set()
    for split_dir, split in SPLIT_DIRS.items():
        for annotation in sorted((annotation_root / split_dir).glob("*.txt")):
            stem = annotation.stem if annotation.stem in videos else video_stem(annotation.stem)
            video = videos.get(stem)
            if video is None:
                message = f"{annotation}: no video named {stem}.* under {root}"
                if on_bad_video == "error":
                    raise DataError(f"{message} (set --data.on_bad_video skip to leave such annotations out)")
                rank_zero_warn(f"skipping {message}")
                continue
            used.add(stem)
            records.append(VideoRecord(
                video_id=annotation.stem, path=video, load_targets=functools.partial(fitted_va_targets, annotation, tolerance),
                group=str(video), split=split,
            ))
    unannotated = sorted(set(videos) - used)
    return records, unannotated


class AffWild2DataModule(WindowDataModule):
    """Valence-arousal windows from the Aff-Wild2 layout (see the module docstring).

    Args:
        annotations_dir: the ``VA_Estimation_Challenge`` folder, relative to ``root``
            (default: looked for in the two usual places).
        max_frame_mismatch: annotation lines may differ from the video's frame count by this
            many frames (extra lines dropped, missing frames invalid); more is an error.

    The window target is the mean (valence, arousal) of its valid frames (``va_window_target``).
    ``split_mode: official`` trains on Train_Set and validates on Validation_Set.
    """

    task = "valence_arousal"

    def __init__(self, root: str, annotations_dir: Optional[str] = None, max_frame_mismatch: int = 0, **kwargs):
        super().__init__(root=root, **kwargs)
        self.annotations_dir = annotations_dir
        self.max_frame_mismatch = max_frame_mismatch
        self.unannotated: list[str] = []

    def load_records(self) -> list[VideoRecord]:
        records, self.unannotated = read_layout(self.root, self.annotations_dir, self.max_frame_mismatch, self.on_bad_video)
        if self.unannotated:
            rank_zero_info(f"{len(self.unannotated)} video(s) without a VA annotation left out, e.g. {self.unannotated[0]}")
        return records

    def window_target(self, values, valid):
        return va_window_target(values, valid)
