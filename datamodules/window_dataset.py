"""A map-style dataset of sliding windows: each item is the frames of one window, per stream,
with the window's target and the frame-level targets it covers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.feature_cache import CachedFeatureReader
from datamodules.labels import FrameTargets
from datamodules.video_io import read_frames
from datamodules.windows import union_indices


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


def gather_streams(frames, decoded: list[int], per_stream: dict[str, list[int]]) -> dict:
    """Each stream's frames, picked from ``frames`` (the decoded frames ``decoded``, in order)."""
    position = {frame: row for row, frame in enumerate(decoded)}
    return {name: frames[[position[i] for i in indices]] for name, indices in per_stream.items()}


class WindowDataset(Dataset):
    """Decodes the union of a window's stream indices once, then gathers each stream's frames.

    An item holds ``video`` (Tv, S, S, 3), ``image`` (Ti, S, S, 3) and ``text`` (Tt, S, S, 3)
    uint8 frames (S = ``frame_size``, or the native size when None), ``target`` (C,),
    ``frame_target`` (window, C) and ``frame_mask`` (window,) for the frames the window
    covers (padding is masked), and ``video_index``, ``video_id``, ``start``, ``end``.
    """

    def __init__(self, windows: list[WindowItem], targets: dict[int, FrameTargets], window: int, frame_size: int | None):
        self.windows = windows
        self.targets = targets
        self.window = window
        self.frame_size = frame_size

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict:
        item = self.windows[index]
        needed = union_indices(item.indices)
        # resized as they are decoded: a 4000x3000 video never holds a window of full-size frames
        frames = torch.from_numpy(read_frames(item.path, needed, self.frame_size))
        sample = gather_streams(frames, needed, item.indices)
        sample.update(target_fields(item, self.targets[item.video_index], self.window))
        return sample


def target_fields(item: WindowItem, targets: FrameTargets, window: int) -> dict:
    """The label side of an item: window target, the frame targets it covers, where it is."""
    frame_values, frame_valid = targets.window(item.start, window)
    return {
        "target": torch.from_numpy(item.target),
        "frame_target": torch.from_numpy(frame_values),
        "frame_mask": torch.from_numpy(frame_valid),
        "video_index": item.video_index,
        "video_id": item.video_id,
        "video_path": str(item.path),  # with text_frames: what a captions file is looked up by
        "text_frames": torch.tensor(item.indices["text"], dtype=torch.long),
        "start": item.start,
        "end": item.end,
    }


class CachedWindowDataset(Dataset):
    """The same items as ``WindowDataset`` with ``features`` (per stream, (T, d) float32) read
    from the feature cache in place of frames: no decoding, no encoder."""

    def __init__(self, windows: list[WindowItem], targets: dict[int, FrameTargets], window: int):
        self.windows = windows
        self.targets = targets
        self.window = window
        self.reader = CachedFeatureReader()

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict:
        item = self.windows[index]
        sample = {"features": self.reader.window(item.cache_path, item.cache_row)}
        sample.update(target_fields(item, self.targets[item.video_index], self.window))
        return sample
