"""Map-style datasets of sliding windows: each item is one window's frames (or cached features)
with the window's target and the frame-level targets it covers."""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.feature_cache import CachedFeatureReader
from datamodules.labels import FrameTargets
from datamodules.resize import frame_views
from datamodules.video_io import SequentialFrameReader, read_frames
from datamodules.windows import WindowSpec, real_steps, stream_slots


@dataclass(frozen=True)
class WindowItem:
    """One window of one video: where it starts, its target and which frames each stream reads."""

    video_index: int
    video_id: str
    path: Path
    start: int
    end: int  # exclusive, before padding: min(start + window, num_frames)
    target: np.ndarray = field(hash=False, compare=False)  # (C,) float32
    indices: dict[str, list[int]] = field(hash=False, compare=False)
    cache_path: Optional[Path] = None  # where its features are cached, if they are
    cache_row: int = -1  # its row in that file


def gather_streams(frames: torch.Tensor, decoded: list[int], per_stream: dict[str, list[int]]) -> dict:
    """Each stream's frames, picked from ``frames`` (the decoded frames ``decoded``, in order) with
    ``index_select``, which copies whole frames (indexing with a list gathers element-wise)."""
    position = {frame: row for row, frame in enumerate(decoded)}
    return {name: frames.index_select(0, torch.tensor([position[i] for i in indices]))
            for name, indices in per_stream.items()}


class LabelledWindows(Dataset):
    """Windows with their targets. An item's label side (``labels``): ``target`` (C,),
    ``frame_target`` (window, C) and ``frame_mask`` (window,) for the frames it covers (padding
    masked), ``stream_lengths`` (its streams' real steps, ``datamodules.batch``),
    ``window_scored`` (False for a near-duplicate end window, left out of window-level scores), and
    where it is: ``video_index``, ``video_id``, ``video_path`` and ``text_frames`` (by which a
    captions file is read), ``start``, ``end``."""

    def __init__(self, windows: list[WindowItem], targets: dict[int, FrameTargets], spec: WindowSpec):
        self.windows, self.targets, self.spec = windows, targets, spec

    def __len__(self) -> int:
        return len(self.windows)

    def labels(self, item: WindowItem) -> dict:
        frame_values, frame_valid = self.targets[item.video_index].window(item.start, self.spec.window)
        return {"target": torch.from_numpy(item.target), "frame_target": torch.from_numpy(frame_values),
                "frame_mask": torch.from_numpy(frame_valid), "video_index": item.video_index, "video_id": item.video_id,
                "video_path": str(item.path), "text_frames": torch.tensor(item.indices["text"], dtype=torch.long),
                "start": item.start, "end": item.end,
                "stream_lengths": {name: torch.tensor(real_steps(indices)) for name, indices in item.indices.items()},
                "window_scored": not self.spec.near_duplicate(item.start)}


class WindowDataset(LabelledWindows):
    """Decodes the union of a window's stream indices once, and hands it out once.

    An item is a batch of one window in ``datamodules.batch``'s layout: ``frames`` (slots x views,
    S, S, 3) uint8, the window's distinct sampled frames in time order, each in the views its
    streams read (``datamodules/framing.py``), and ``stream_rows`` (per stream, (1, T), from
    ``windows.stream_slots``: the same for every window); plus its ``labels``.

    ``open_readers`` > 0 keeps that many videos' readers open (per process, least recently used
    closed first), each holding the frames of its last window: a video whose windows come in
    time order (``by_video`` training, evaluation) is decoded once, front to back. 0 decodes
    every window on its own.
    """

    def __init__(self, windows: list[WindowItem], targets: dict[int, FrameTargets], spec: WindowSpec,
                 open_readers: int = 0):
        super().__init__(windows, targets, spec)
        self.open_readers = open_readers
        self._readers: OrderedDict[Path, SequentialFrameReader] = OrderedDict()
        self._readers_pid = os.getpid()
        self._inherited: list = []
        self.slot_offsets, rows = stream_slots(spec.window, spec.per_stream)
        self.slots = len(self.slot_offsets)
        self._rows = rows
        # a batch of one window; with several views (framings), slot i's view v is frame row i * V + v
        views = len(spec.views)
        self.stream_rows = {name: torch.tensor([[slot * views + spec.view_of(name) for slot in r]])
                            for name, r in rows.items()}

    def __getstate__(self) -> dict:  # DataLoader workers open their own readers
        return dict(self.__dict__, _readers=OrderedDict(), _inherited=[])

    def _own_readers(self) -> OrderedDict:
        """This process's open readers. A forked DataLoader worker inherits copies of the parent's,
        which must be neither used (decoder state does not survive a fork: decord crashes) nor
        closed; they are kept aside, untouched, and the worker opens its own."""
        if self._readers_pid != os.getpid():
            self._inherited.append(self._readers)
            self._readers, self._readers_pid = OrderedDict(), os.getpid()
        return self._readers

    def close_readers(self) -> None:
        """Closes the readers this process keeps open (``open_readers``)."""
        readers = self._own_readers()
        while readers:
            readers.popitem()[1].close()

    def _frames(self, path: Path, needed: list[int]) -> np.ndarray:
        if self.open_readers <= 0:
            # resized as they are decoded: a 4000x3000 video never holds a window of full-size frames
            return read_frames(path, needed, self.spec.frame_size)
        readers = self._own_readers()
        reader = readers.pop(path, None)
        if reader is None:
            reader = SequentialFrameReader(path, self.spec.frame_size, in_thread=True)  # many stay open
        frames = reader.get(needed)  # a reader that fails is dropped with its error
        reader.release_before(needed[0])  # later windows of the video start later
        readers[path] = reader
        while len(readers) > self.open_readers:
            readers.popitem(last=False)[1].close()
        return frames

    def slot_frames(self, item: WindowItem) -> list[int]:
        """The frame each of the window's slots holds, from the item's own stream indices."""
        frames: list[Optional[int]] = [None] * self.slots
        for name, rows in self._rows.items():
            indices = item.indices.get(name, [])
            if len(indices) != len(rows):
                raise ValueError(f"window {item.video_id}@{item.start}: stream {name} has {len(indices)} frames, "
                                 f"this dataset's windows {len(rows)}")
            for slot, frame in zip(rows, indices):
                frames[slot] = frame
        last = max(frames, default=0)
        for frame, offset in zip(frames, self.slot_offsets):  # at its offset, or the video's last frame (padding)
            if frame != item.start + offset and not (frame == last < item.start + offset):
                raise ValueError(f"window {item.video_id}@{item.start}: its frame indices were not sampled "
                                 f"over a {self.spec.window}-frame window")
        return frames

    def __getitem__(self, index: int) -> dict:
        item = self.windows[index]
        slots = self.slot_frames(item)
        needed = sorted(set(slots))
        frames = torch.from_numpy(self._frames(item.path, needed))
        if len(needed) < len(slots):  # past a short video's end: slots repeat its last frame
            frames = gather_streams(frames, needed, {"slots": slots})["slots"]
        frames = frame_views(frames, self.spec.views, self.spec.frame_size)
        numbers = torch.tensor(slots, dtype=torch.long).repeat_interleave(len(self.spec.views))  # each row's frame
        return {"frames": frames, "stream_rows": self.stream_rows, "frame_numbers": numbers, **self.labels(item)}


class CachedWindowDataset(LabelledWindows):
    """The same items as ``WindowDataset`` with ``features`` (per stream, (T, d) float32) read
    from the feature cache in place of frames: no decoding, no encoder."""

    def __init__(self, windows: list[WindowItem], targets: dict[int, FrameTargets], spec: WindowSpec):
        super().__init__(windows, targets, spec)
        self.reader = CachedFeatureReader()

    def __getitem__(self, index: int) -> dict:
        item = self.windows[index]
        return {"features": self.reader.window(item.cache_path, item.cache_row), **self.labels(item)}
