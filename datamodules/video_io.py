"""Reading videos with decord, and PyAV where decord cannot.

Readers are opened in the process that uses them, never shared across DataLoader workers. Every
decord failure becomes a ``DataError`` naming the file with a one-line reason (``failure_reason``);
decord raises its own error types and internal check failures, so the catch is deliberately broad.

decord turns frames by the container's display matrix (portrait phone video comes out
upright); PyAV frames (``PyAVFrames`` here, ``window_source.LiveWindowSource``) are turned the
same way by ``upright``. Frame counts are what can be read, not what the header declares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from datamodules.forward_decoder import ForwardDecoder, NotDecordsFrames, PyAVForward
from datamodules.resize import resize_short_side
from lightning_app.errors import DataError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    height: int
    width: int


# decord's messages carry its source location and check expression ("[10:31:02] .../video_reader.cc:151:
# Check failed: ... ERROR cannot find video stream ..."); what they mean, in the user's terms:
_DECORD_REASONS = (
    ("cannot find video stream", "FFmpeg finds no video stream in it (audio only, or cut short before its index)"),
    ("av_read_frame failed", "the file is truncated or corrupt (its packets cannot be read to the end)"),
    ("avcodec_send_packet", "the video stream holds corrupt data"),
    ("Error reading", "FFmpeg cannot open it as a video (not a video file, or truncated before its index)"),
)


def failure_reason(exc: BaseException) -> str:
    """A one-line reason for a decoding failure, without the decoder's source locations."""
    text = " ".join(str(exc).split())
    for marker, reason in _DECORD_REASONS:
        if marker in text:
            return reason
    text = re.sub(r"\[\d\d:\d\d:\d\d\] \S+\.(cc|h|cpp):\d+: ", "", text).strip()
    return text[:200] or type(exc).__name__


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
        raise DataError(f"cannot read video {path}: {failure_reason(exc)}") from exc


def frame_count(path: str | Path) -> int:
    """The frame count the container reports, without decoding; 0 when it cannot be read."""
    try:
        return len(_open(Path(path)))
    except DataError:
        return 0


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, average fps and frame size of a video, or a ``DataError``."""
    path = Path(path)
    reader = _open(path)
    num_frames = len(reader)
    if num_frames < 1:
        raise DataError(f"cannot read video {path}: it has no video frames")
    try:
        height, width = reader[0].shape[:2]
    except Exception as exc:
        raise DataError(f"cannot decode the first frame of video {path}: {failure_reason(exc)}") from exc
    return VideoInfo(num_frames=num_frames, fps=float(reader.get_avg_fps()), height=height, width=width)


def declared_frame_count(path: str | Path) -> int:
    """The frame count the container's header declares, 0 when it declares none (Matroska, WebM)
    or cannot be read. The decoders count the frames actually there; this is only to notice a
    file that lost its tail (a header that promises more frames than can be read)."""
    import av

    try:
        with av.open(str(path)) as container:
            return int(container.streams.video[0].frames) if container.streams.video else 0
    except Exception:
        return 0


def truncation_warning(declared: int, decoded: int) -> Optional[str]:
    """What to tell the user when fewer frames decode than the header declares, else None."""
    if declared > decoded:
        return (f"the container declares {declared} frames but only {decoded} can be read (a truncated file?); "
                "the results cover those")
    return None


def upright(frame) -> np.ndarray:
    """A PyAV ``VideoFrame`` as RGB uint8 (H, W, 3), turned by its rotation (``frame.rotation``,
    counter-clockwise) as decord turns it; PyAV hands out the stored picture. Mirroring is not
    applied."""
    array = frame.to_ndarray(format="rgb24")
    turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(array, k=turns)) if turns else array


class PyAVFrames(PyAVForward):
    """Frames by increasing index, decoded front to back with PyAV and turned upright: the
    fallback for files decord opens but cannot copy out (e.g. 48x48 H.264 in Matroska, where
    decord's frame buffer is padded wider than the picture)."""

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        out = []
        for index in indices:
            try:
                out.append(upright(self.advance_to(index)))
            except StopIteration:
                raise DataError(f"video {self.path} ends before frame {index}") from None
        return np.stack(out)


def read_frames(path: str | Path, indices: Sequence[int], frame_size: Optional[int] = None) -> np.ndarray:
    """Decode the given frames (sorted) as an RGB uint8 array (N, H, W, 3), resized to
    ``frame_size`` (short side, aspect ratio kept) as they are decoded when it is given."""
    return SequentialFrameReader(path, frame_size).get(list(indices))


class SequentialFrameReader:
    """Decodes one video front to back, once: frames are requested in increasing order, kept
    while a later request may still need them, and released with ``release_before``.
    ``frame_size`` resizes every frame once (short side, aspect ratio kept); frames are decoded about
    ``DECODE_BYTES`` at a time, each batch resized before the next, so a 4000x3000 video never
    holds many full-size frames."""

    DECODE_BYTES = 64 * 2**20

    def __init__(self, path: str | Path, frame_size: Optional[int] = None, in_thread: bool = False):
        """``in_thread``: for readers kept open, decode in the calling thread
        (``forward_decoder.ForwardDecoder``) wherever that gives decord's frames exactly, and
        close decord's reader, whose decoder thread costs CPU while it stays open."""
        self.path = Path(path)
        self.frame_size = frame_size
        self._reader = _open(self.path)
        self._length = len(self._reader)
        self._forward = ForwardDecoder.open(self.path, self._reader) if in_thread else None
        if self._forward is not None:
            self._reader = None  # reopened only if the forward decoder gives up
        self._fallback: Optional[PyAVFrames] = None
        self._frames: dict[int, np.ndarray] = {}
        self.decoded = 0  # frames decoded so far (each at most once)
        self._batch = 1  # frames per decode call, set from the first frame's size

    def __len__(self) -> int:
        return self._length

    def get(self, indices: Sequence[int]) -> np.ndarray:
        """Frames (N, H, W, 3) for sorted ``indices``; only the ones not yet held are decoded."""
        missing = sorted({i for i in indices if i not in self._frames})
        first = 0
        while first < len(missing):
            part = missing[first : first + self._batch]
            first += len(part)
            batch = self._get_batch(part)
            self._batch = max(1, self.DECODE_BYTES // max(1, batch[0].nbytes))
            if self.frame_size is not None:
                batch = resize_short_side(torch.from_numpy(batch), self.frame_size).numpy()
            self._frames.update(zip(part, batch))
            self.decoded += len(part)
        return np.stack([self._frames[i] for i in indices])

    def _get_batch(self, missing: list[int]) -> np.ndarray:
        if self._forward is not None:
            try:
                return self._forward.get_batch(missing)
            except NotDecordsFrames:
                self._forward.close()
                self._forward, self._reader = None, _open(self.path)  # decord from here on
        if self._fallback is None:
            try:
                return self._reader.get_batch(missing).asnumpy()
            except Exception as exc:
                if "DECORDArrayCopyFromTo" not in str(exc):
                    raise DataError(f"cannot decode frames {missing[0]}..{missing[-1]} of video {self.path}: "
                                    f"{failure_reason(exc)}") from exc
                self._fallback = PyAVFrames(self.path)  # requests only move forward: stream on from the start
        return self._fallback.get_batch(missing)

    def release_before(self, index: int) -> None:
        for frame in [f for f in self._frames if f < index]:
            del self._frames[frame]

    def close(self) -> None:
        """Drops the decoders and the frames held (decord's reader closes when dropped)."""
        for decoder in (self._forward, self._fallback):
            if decoder is not None:
                decoder.close()
        self._forward = self._fallback = self._reader = None
        self._frames.clear()


def frame_times(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Start and end time in seconds of every frame, from the container's timestamps (right for
    variable-frame-rate files, where index / average fps drifts from the playback time)."""
    path = Path(path)
    reader = _open(path)
    try:
        stamps = np.asarray(reader.get_frame_timestamp(list(range(len(reader)))), np.float64).reshape(-1, 2)
    except Exception as exc:
        raise DataError(f"cannot read the timestamps of video {path}: {exc}") from exc
    return stamps[:, 0], stamps[:, 1]
