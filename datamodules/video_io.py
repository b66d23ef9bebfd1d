"""Reading videos with decord.

A ``VideoReader`` is opened per call (so per ``__getitem__``), never shared across
DataLoader workers. Every decord failure is turned into a ``DataError`` naming the file:
decord raises its own error types, and for some files (audio-only) an internal check
failure, so the catch is deliberately broad.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lightning_app.errors import DataError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    height: int
    width: int


def _open(path: Path):
    import decord

    decord.logging.set_level(decord.logging.QUIET)  # our DataError says what went wrong, once
    if not path.is_file():
        raise DataError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise DataError(f"cannot read video {path}: the file is empty")
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except Exception as exc:  # decord raises DECORDError, RuntimeError or internal check failures
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read video {path}: {reason[:200]}") from exc


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, average fps and frame size of a video, or a ``DataError``."""
    path = Path(path)
    reader = _open(path)
    num_frames = len(reader)
    if num_frames < 1:
        raise DataError(f"cannot read video {path}: it has no video frames")
    height, width = reader[0].shape[:2]
    return VideoInfo(num_frames=num_frames, fps=float(reader.get_avg_fps()), height=height, width=width)


def read_frames(path: str | Path, indices: Sequence[int]) -> np.ndarray:
    """Decode the given frames (sorted, distinct) as an RGB uint8 array (N, H, W, 3)."""
    path = Path(path)
    reader = _open(path)
    try:
        return reader.get_batch(list(indices)).asnumpy()
    except Exception as exc:
        raise DataError(f"cannot decode frames {list(indices)[:4]}... of video {path}: {exc}") from exc
