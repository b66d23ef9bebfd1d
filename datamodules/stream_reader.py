"""Windows from a video read incrementally with PyAV: a file still being written, a camera or a
network stream FFmpeg can open. Each window is emitted as soon as its last frame arrives, and
only one window of (resized) frames is held in memory.

The windows are the ones ``windows.window_starts`` gives for the whole video, so a finished
file yields the same windows in streaming and in batch mode: every ``stride`` frames while
frames arrive, then, at the end, one window aligned to the last frame if the regular ones
stopped short, or one padded window for a video shorter than a window.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from datamodules.growing_file import GrowingFile
from datamodules.resize import resize_short_side
from datamodules.video_io import truncation_warning, upright
from datamodules.windows import WindowSpec
from lightning_app.errors import DataError


@dataclass
class StreamWindow:
    start: int
    end: int
    frames: dict[str, torch.Tensor]  # per stream (T, S, S, 3) uint8
    start_time: float
    end_time: float
    ready: float  # time.perf_counter() when its last frame had been decoded
    text_frames: list[int] = field(default_factory=list)  # the text stream's frame numbers (for a captions file)


class StreamingWindowReader:
    def __init__(self, source: str, spec: WindowSpec, input_format: Optional[str] = None,
                 follow_seconds: Optional[float] = None):
        self.source, self.spec = source, spec
        self.input_format = input_format  # FFmpeg input format for devices, e.g. "v4l2" for /dev/video0
        # a file still being written: read on as it grows, end after this many seconds without growth
        self.follow_seconds = follow_seconds
        self.num_frames = 0
        self.stopped_early: Optional[str] = None  # why decoding ended before the stream did, if it did

    def _frames(self) -> Iterator[tuple[np.ndarray, float]]:
        import av

        try:
            if self.follow_seconds is not None:
                container = av.open(GrowingFile(self.source, self.follow_seconds), format=self.input_format)
            else:
                container = av.open(self.source, format=self.input_format)
        except Exception as exc:
            raise DataError(f"cannot open video {self.source}: {exc}") from exc
        with container:
            if not container.streams.video:
                raise DataError(f"cannot read video {self.source}: it has no video stream")
            stream = container.streams.video[0]
            try:
                for frame in container.decode(stream):
                    yield upright(frame), float(frame.time if frame.time is not None else 0.0)
            except av.error.FFmpegError as exc:
                if self.num_frames == 0:
                    raise DataError(f"cannot decode video {self.source}: {exc}") from exc
                # a truncated tail: keep the frames decoded so far, and say that the rest was lost
                self.stopped_early = f"decoding stopped after {self.num_frames} frames ({exc}); later frames are left out"
                return
            self.stopped_early = truncation_warning(stream.frames or 0, self.num_frames)

    def _emit(self, buffer, start: int, num_frames: int, frame_end: float) -> StreamWindow:
        held = {index: (frame, stamp) for index, frame, stamp in buffer}
        indices = self.spec.indices(start, num_frames)
        frames = {name: torch.from_numpy(np.stack([held[i][0] for i in idx])) for name, idx in indices.items()}
        end = min(start + self.spec.window, num_frames)
        return StreamWindow(start, end, frames, held[start][1], frame_end, time.perf_counter(), list(indices.get("text", [])))

    def __iter__(self) -> Iterator[StreamWindow]:
        buffer: deque = deque(maxlen=self.spec.window)
        last_start, previous_time, step = None, 0.0, 0.0
        for index, (frame, stamp) in enumerate(self._frames()):
            if self.spec.frame_size is not None:
                frame = resize_short_side(torch.from_numpy(frame[None]), self.spec.frame_size)[0].numpy()
            if index:
                step = stamp - previous_time
            previous_time = stamp
            buffer.append((index, frame, stamp))
            self.num_frames = index + 1
            start = index + 1 - self.spec.window
            if start >= 0 and start % self.spec.stride == 0:
                last_start = start
                yield self._emit(buffer, start, start + self.spec.window, stamp + step)
        if self.num_frames == 0:
            raise DataError(f"cannot read video {self.source}: no frame could be decoded")
        end_time = previous_time + step
        if last_start is None:
            yield self._emit(buffer, 0, self.num_frames, end_time)
        elif last_start + self.spec.window < self.num_frames:
            yield self._emit(buffer, self.num_frames - self.spec.window, self.num_frames, end_time)
