"""What ``extract`` iterates over: one item per video, yielding its windows' frames in chunks,
decoded front to back once."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.video_io import SequentialFrameReader
from datamodules.window_dataset import gather_streams
from datamodules.windows import union_indices, window_indices, window_starts


@dataclass(frozen=True)
class VideoJob:
    name: str  # the video's name in the cache
    path: Path


class VideoWindowSource:
    """Iterating yields chunks of up to ``windows_per_chunk`` consecutive windows::

        {"starts": (B,), "ends": (B,), "text_frames": (B, Tt), "video": (B, Tv, S, S, 3), "image": ..., "text": ...}

    Frames shared by overlapping windows are decoded once; frames before the next chunk's
    first index are released, so memory holds about one chunk of frames.
    ``decode_seconds`` and ``num_frames`` are filled in while iterating.
    """

    def __init__(self, job: VideoJob, window: int, stride: int, counts: Mapping[str, int],
                 frame_size: Optional[int], windows_per_chunk: int = 8):
        self.job = job
        self.window, self.stride, self.counts = window, stride, dict(counts)
        self.frame_size = frame_size
        self.windows_per_chunk = windows_per_chunk
        self.decode_seconds = 0.0
        self.num_frames = 0
        self.frames_decoded = 0

    def __iter__(self) -> Iterator[dict]:
        started = time.perf_counter()
        reader = SequentialFrameReader(self.job.path, self.frame_size)
        self.num_frames = len(reader)
        starts = window_starts(self.num_frames, self.window, self.stride)
        per_window = [window_indices(s, self.window, self.counts, self.num_frames) for s in starts]
        self.decode_seconds += time.perf_counter() - started
        for first in range(0, len(starts), self.windows_per_chunk):
            started = time.perf_counter()
            chunk = per_window[first : first + self.windows_per_chunk]
            needed = union_indices({f"{i}{name}": idx for i, w in enumerate(chunk) for name, idx in w.items()})
            frames = torch.from_numpy(reader.get(needed))
            windows = [gather_streams(frames, needed, w) for w in chunk]
            batch = {name: torch.stack([w[name] for w in windows]) for name in self.counts}
            chunk_starts = starts[first : first + self.windows_per_chunk]
            batch["starts"] = np.asarray(chunk_starts, np.int64)
            batch["text_frames"] = torch.tensor([w["text"] for w in chunk], dtype=torch.long)  # for a captions file
            batch["ends"] = np.minimum(batch["starts"] + self.window, self.num_frames)
            if first + self.windows_per_chunk < len(starts):
                reader.release_before(min(min(idx) for idx in per_window[first + self.windows_per_chunk].values()))
            self.frames_decoded = reader.decoded
            self.decode_seconds += time.perf_counter() - started
            yield batch


class VideoJobDataset(Dataset):
    """One ``VideoWindowSource`` per video; decoding happens when the source is iterated."""

    def __init__(self, jobs: list[VideoJob], window: int, stride: int, counts: Mapping[str, int],
                 frame_size: Optional[int], windows_per_chunk: int = 8):
        self.jobs = jobs
        self.args = (window, stride, dict(counts), frame_size, windows_per_chunk)

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> VideoWindowSource:
        return VideoWindowSource(self.jobs[index], *self.args)


def first_item(batch: list):
    """collate_fn for batches of one video source."""
    return batch[0]
