"""A video read as windows, in chunks of the batch layout (``datamodules.batch``), from a file
or from live input. Both sources yield the same chunk::

    {"frames": (F, S, S, 3) uint8, "stream_rows": {"video": (B, Tv), "image": ..., "text": ...},
     "stream_lengths": {"video": (B,), ...}, "frame_numbers": (F,), "starts": (B,), "ends": (B,),
     "text_frames": (B, Tt)}

``frames`` holds the chunk's distinct sampled frames once, in time order (each in the views the
streams read, ``datamodules/framing.py``: frame i's view v at row i * V + v); ``stream_rows`` says
which of them each window's streams read; ``frame_numbers`` the video frame each row holds (by
which frames shared with the next chunk are encoded once); ``text_frames`` are the text stream's frame numbers
(by which a captions file is read). The windows are ``WindowSpec.starts`` over the whole video,
so a finished file yields the same windows from either source.

* ``VideoWindowSource``: a file decoded front to back once, ``windows_per_chunk`` windows a
  chunk, holding about one chunk of frames. Its chunks add ``last`` (the video's last chunk).
* ``LiveWindowSource``: PyAV reading a file still being written, a camera or a network stream,
  holding one window of frames; each window is yielded as a chunk of one as soon as its last
  frame is decoded (``ready``, ``time.perf_counter()``), with ``start_time`` / ``end_time``
  in seconds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from datamodules.batch import stream_lengths
from datamodules.growing_file import GrowingFile
from datamodules.resize import frame_views, resize_short_side
from datamodules.video_io import SequentialFrameReader, truncation_warning, upright
from datamodules.windows import WindowSpec, union_indices
from lightning_app.errors import DataError


def window_chunk(read: Callable[[list[int]], np.ndarray], starts: Sequence[int], num_frames: int,
                 spec: WindowSpec) -> dict:
    """The chunk of the windows starting at ``starts``; ``read(frame numbers)`` gives those
    frames, (len, H, W, 3) uint8 (short side resized to ``spec.frame_size``), in the order asked;
    each is made into the views (framings) the streams read."""
    per_window = [spec.indices(start, num_frames) for start in starts]
    needed = union_indices({f"{i}{name}": idx for i, w in enumerate(per_window) for name, idx in w.items()})
    views = len(spec.views)  # frame i's view v (its framing) is row i * views + v
    position = {frame: row * views for row, frame in enumerate(needed)}
    begin = np.asarray(starts, np.int64)
    return {
        "frames": frame_views(torch.from_numpy(read(needed)), spec.views, spec.frame_size),
        "stream_rows": {name: torch.tensor([[position[i] + spec.view_of(name) for i in w[name]] for w in per_window],
                                           dtype=torch.long)
                        for name in spec.per_stream},
        "stream_lengths": stream_lengths(per_window),
        "frame_numbers": torch.tensor(needed, dtype=torch.long).repeat_interleave(views),  # each row's frame
        "starts": begin,
        "ends": np.minimum(begin + spec.window, num_frames),
        "text_frames": torch.tensor([w.get("text", []) for w in per_window], dtype=torch.long),
    }


class VideoWindowSource:
    """A video file's windows in chunks (see the module doc); ``num_frames``, ``decode_seconds``
    and ``frames_decoded`` are filled in while iterating."""

    def __init__(self, path: Path, spec: WindowSpec, windows_per_chunk: int = 8):
        self.path, self.spec, self.windows_per_chunk = Path(path), spec, windows_per_chunk
        self.decode_seconds = 0.0
        self.num_frames = 0
        self.frames_decoded = 0

    def __iter__(self) -> Iterator[dict]:
        started = time.perf_counter()
        reader = SequentialFrameReader(self.path, self.spec.frame_size)
        self.num_frames = len(reader)
        starts = self.spec.starts(self.num_frames)
        self.decode_seconds += time.perf_counter() - started
        for first in range(0, len(starts), self.windows_per_chunk):
            started = time.perf_counter()
            chunk = window_chunk(reader.get, starts[first : first + self.windows_per_chunk], self.num_frames, self.spec)
            following = first + self.windows_per_chunk
            chunk["last"] = following >= len(starts)
            if not chunk["last"]:
                next_window = self.spec.indices(starts[following], self.num_frames)
                reader.release_before(min(min(indices) for indices in next_window.values()))
            self.frames_decoded = reader.decoded
            self.decode_seconds += time.perf_counter() - started
            yield chunk


class LiveWindowSource:
    """Live input's windows, one a chunk, as soon as each is complete (see the module doc).
    ``num_frames`` counts the frames decoded so far; ``stopped_early`` says why decoding ended
    before the stream did, if it did."""

    def __init__(self, source: str, spec: WindowSpec, input_format: Optional[str] = None,
                 follow_seconds: Optional[float] = None):
        self.source, self.spec = source, spec
        self.input_format = input_format  # FFmpeg input format for devices, e.g. "v4l2" for /dev/video0
        # a file still being written: read on as it grows, end after this many seconds without growth
        self.follow_seconds = follow_seconds
        self.num_frames = 0
        self.stopped_early: Optional[str] = None

    def _open(self):
        import av

        try:
            if self.follow_seconds is not None:
                return av.open(GrowingFile(self.source, self.follow_seconds), format=self.input_format)
            return av.open(self.source, format=self.input_format)
        except Exception as exc:
            raise DataError(f"cannot open video {self.source}: {exc}") from exc

    def _frames(self) -> Iterator[tuple[np.ndarray, float]]:
        import av

        with self._open() as container:
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

    def _emit(self, held: dict[int, tuple[np.ndarray, float]], start: int, num_frames: int, end_time: float) -> dict:
        chunk = window_chunk(lambda needed: np.stack([held[i][0] for i in needed]), [start], num_frames, self.spec)
        chunk.update(start_time=held[start][1], end_time=end_time, ready=time.perf_counter())
        return chunk

    def __iter__(self) -> Iterator[dict]:
        window, stride, size = self.spec.window, self.spec.stride, self.spec.frame_size
        held: dict[int, tuple[np.ndarray, float]] = {}
        order: deque = deque()
        last_start, previous_time, step = None, 0.0, 0.0
        for index, (frame, stamp) in enumerate(self._frames()):
            if size is not None:
                frame = resize_short_side(torch.from_numpy(frame[None]), size)[0].numpy()
            if index:
                step = stamp - previous_time
            previous_time = stamp
            held[index] = (frame, stamp)
            order.append(index)
            if len(order) > window:
                del held[order.popleft()]
            self.num_frames = index + 1
            start = index + 1 - window
            if start >= 0 and start % stride == 0:
                last_start = start
                yield self._emit(held, start, start + window, stamp + step)
        if self.num_frames == 0:
            raise DataError(f"cannot read video {self.source}: no frame could be decoded")
        end_time = previous_time + step
        if last_start is None:
            yield self._emit(held, 0, self.num_frames, end_time)
        elif last_start + window < self.num_frames:
            yield self._emit(held, self.num_frames - window, self.num_frames, end_time)
