"""Decoding a video front to back in the calling thread (PyAV, one thread), only where that
gives exactly the frames decord gives.

Why: every open decord ``VideoReader`` keeps a decoder thread that wakes up while it waits,
and the ``by_video`` training order keeps ``batch_size + 1`` readers open per DataLoader
worker, so idle decord readers cost CPU the decoding needs. An idle PyAV decoder costs nothing.

Where: decord bundles FFmpeg 4.1 and PyAV a recent FFmpeg, whose pixel-format converters agree
bit for bit on 8-bit 4:2:0 / 4:4:4 / grey pictures of even width and height (checked on H.264
with B-frames, full-range and VP9), not on odd sizes or 10-bit video. ``ForwardDecoder.open``
returns None for anything else, and every frame must match decord's index (same timestamp, no
display rotation); on any mismatch or PyAV error the caller goes back to decord.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np

# pixel formats whose RGB conversion matches decord's exactly (at even sizes)
SAME_AS_DECORD = frozenset({"yuv420p", "yuvj420p", "yuv444p", "yuvj444p", "gray"})
TIME_TOLERANCE = 1e-4  # seconds; decord and PyAV both compute pts x time_base


class NotDecordsFrames(Exception):
    """This decoder cannot promise decord's frames from here on: use decord."""


class PyAVForward:
    """A video's frames decoded front to back with PyAV, one at a time, restarting from the
    start when an earlier frame is asked for; the base of ``ForwardDecoder`` and
    ``video_io.PyAVFrames``. ``single_thread``: decode in the calling thread only (else with
    FFmpeg's default threads)."""

    def __init__(self, path: Path, single_thread: bool = False):
        self.path = path
        self.single_thread = single_thread
        self._container = None
        self._frames = None
        self._position = -1  # index of the last frame decoded

    def _restart(self) -> None:
        import av

        self.close()
        self._container = av.open(str(self.path))
        stream = self._container.streams.video[0]
        if self.single_thread:
            stream.thread_type = "NONE"
            stream.codec_context.thread_count = 1
        self._frames = self._container.decode(stream)
        self._position = -1

    def advance_to(self, index: int):
        """The PyAV ``VideoFrame`` at ``index``; raises StopIteration past the last frame and
        whatever FFmpeg raises on a broken stream."""
        if self._frames is None or index <= self._position:
            self._restart()
        frame = None
        while self._position < index:
            frame = next(self._frames)
            self._position += 1
        return frame

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = self._frames = None


class ForwardDecoder(PyAVForward):
    """Frames by increasing index, decoded front to back in the calling thread (restarting if
    asked for an earlier frame). ``times`` are decord's frame start times."""

    def __init__(self, path: Path, times: np.ndarray):
        super().__init__(path, single_thread=True)  # DataLoader workers are the parallelism
        self.times = times

    @classmethod
    def open(cls, path: Path, decord_reader) -> Optional["ForwardDecoder"]:
        """A decoder for ``path`` if PyAV's frames of it are decord's, else None."""
        import av

        try:
            with av.open(str(path)) as container:
                context = container.streams.video[0].codec_context
                if context.pix_fmt not in SAME_AS_DECORD or context.width % 2 or context.height % 2:
                    return None
            times = np.asarray(decord_reader.get_frame_timestamp(list(range(len(decord_reader)))), np.float64)
        except Exception:  # whatever PyAV or decord cannot say about the file, decord will
            return None
        return cls(path, times.reshape(-1, 2)[:, 0])

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        """RGB uint8 frames (N, H, W, 3) for sorted ``indices``; raises ``NotDecordsFrames``."""
        out = []
        try:
            for index in indices:
                frame = self.advance_to(index)
                if (index >= len(self.times) or frame.time is None or abs(frame.time - self.times[index]) > TIME_TOLERANCE
                        or (getattr(frame, "rotation", 0) or 0) % 360):
                    raise NotDecordsFrames(f"frame {index} of {self.path} is not decord's")
                out.append(frame.to_ndarray(format="rgb24"))
        except NotDecordsFrames:
            raise
        except Exception as exc:  # StopIteration (fewer frames than decord's index), FFmpeg errors
            raise NotDecordsFrames(f"{self.path}: {exc!r}") from exc
        return np.stack(out)
