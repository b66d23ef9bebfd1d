"""Reading videos with decord.

A ``VideoReader`` is opened per call (so per ``__getitem__``), never shared across
DataLoader workers. Every decord failure is turned into a ``DataError`` naming the file:
decord raises its own error types, and for some files (audio-only) an internal check
failure, so the catch is deliberately broad.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

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


class PyAVFrames:
    """Decodes a video front to back with PyAV, handing out frames by index in increasing order.

    The fallback for files decord opens but cannot copy out (seen with some frame sizes, e.g.
    48x48 H.264 in Matroska, where decord's frame buffer is padded wider than the picture).
    """

    def __init__(self, path: Path):
        import av

        self.path = path
        self._container = av.open(str(path))
        self._frames = self._container.decode(self._container.streams.video[0])
        self._position = -1

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        out = []
        for index in indices:
            if index <= self._position:
                raise ValueError(f"PyAVFrames reads forward only: frame {index} after {self._position}")
            frame = None
            while self._position < index:
                try:
                    frame = next(self._frames)
                except StopIteration:
                    raise DataError(f"video {self.path} ends before frame {index}") from None
                self._position += 1
            out.append(frame.to_ndarray(format="rgb24"))
        return np.stack(out)

    def close(self) -> None:
        self._container.close()


def read_frames(path: str | Path, indices: Sequence[int]) -> np.ndarray:
    """Decode the given frames (sorted) as an RGB uint8 array (N, H, W, 3)."""
    return SequentialFrameReader(path).get(list(indices))


class SequentialFrameReader:
    """Decodes one video front to back, once: frames are requested in increasing order, kept
    while a later request may still need them, and released with ``release_before``.

    ``frame_size`` resizes every decoded frame once (short side, centre crop), as the
    training data pipeline does.
    """

    def __init__(self, path: str | Path, frame_size: Optional[int] = None):
        self.path = Path(path)
        self.frame_size = frame_size
        self._reader = _open(self.path)
        self._fallback: Optional[PyAVFrames] = None
        self._frames: dict[int, np.ndarray] = {}
        self.decoded = 0  # frames decoded so far (each at most once)

    def __len__(self) -> int:
        return len(self._reader)

    def get(self, indices: Sequence[int]) -> np.ndarray:
        """Frames (N, H, W, 3) for sorted ``indices``; only the ones not yet held are decoded."""
        missing = sorted({i for i in indices if i not in self._frames})
        if missing:
            batch = self._get_batch(missing)
            if self.frame_size is not None:
                from datamodules.window_dataset import resize_short_side

                batch = resize_short_side(torch.from_numpy(batch), self.frame_size).numpy()
            self._frames.update(zip(missing, batch))
            self.decoded += len(missing)
        return np.stack([self._frames[i] for i in indices])

    def _get_batch(self, missing: list[int]) -> np.ndarray:
        if self._fallback is None:
            try:
                return self._reader.get_batch(missing).asnumpy()
            except Exception as exc:
                if "DECORDArrayCopyFromTo" not in str(exc):
                    raise DataError(f"cannot decode frames {missing[0]}..{missing[-1]} of video {self.path}: {exc}") from exc
                self._fallback = PyAVFrames(self.path)  # requests only move forward: stream on from the start
        return self._fallback.get_batch(missing)

    def release_before(self, index: int) -> None:
        for frame in [f for f in self._frames if f < index]:
            del self._frames[frame]


def frame_times(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Start and end time in seconds of every frame, from the container's timestamps.

    Right for variable-frame-rate files, where frame index / average fps drifts from the
    real playback time.
    """
    path = Path(path)
    reader = _open(path)
    try:
        stamps = np.asarray(reader.get_frame_timestamp(list(range(len(reader)))), np.float64).reshape(-1, 2)
    except Exception as exc:
        raise DataError(f"cannot read the timestamps of video {path}: {exc}") from exc
    return stamps[:, 0], stamps[:, 1]
