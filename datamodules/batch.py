"""The batch contract: the stream names, and the one layout in which every path (training,
validation, extraction, batch inference, streaming) hands windows' frames to the model:

* ``frames``: (F, S, S, 3) uint8, the distinct decoded frames of all the batch's windows, once in
  each view (framing, ``datamodules/framing.py``) the streams read;
* ``stream_rows``: per stream, (B, T) long, the rows of ``frames`` each window reads;
* ``frame_numbers``: (F,) long, the video frame each row of ``frames`` holds;
* ``stream_lengths``: per stream, (B,) long, how many of a window's T steps are real, the rest
  padding past a short video's end (``windows.real_steps``), masked by the model.

Overlapping windows, and streams that read the same frames (all 16 image frames are video
frames, by default), share rows, so each frame crosses from a DataLoader worker and to the GPU
once. ``join_windows`` joins batches (a dataset item is a batch of one window). A batch from the
feature cache holds ``features`` (per stream, (B, T, d) float32) in place of both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

import torch
from torch.utils.data import default_collate

from datamodules.windows import real_steps

# the three streams of a window, in the order the model, the cache and the outputs use
STREAMS = ("video", "image", "text")
# the keys of a batch that hold its frames (joined by ``join_windows``, not stacked)
FRAME_KEYS = ("frames", "stream_rows", "frame_numbers")


def stream_lengths(per_window: Sequence[Mapping[str, Sequence[int]]]) -> dict[str, torch.Tensor]:
    """``stream_lengths`` of windows given by their streams' frame indices: per stream, (B,) long."""
    return {name: torch.tensor([real_steps(window[name]) for window in per_window], dtype=torch.long)
            for name in per_window[0]}


def join_windows(parts: Sequence[dict]) -> dict:
    """Several parts' ``frames`` and ``stream_rows`` as one: the frames one after another, each
    part's rows shifted to where its frames now stand. Parts of one frame count are stacked by
    ``default_collate`` (into shared memory, in a DataLoader worker) and flattened, a view."""
    frames = [part["frames"] for part in parts]
    if len({tuple(f.shape) for f in frames}) == 1:
        joined = default_collate(frames).flatten(0, 1)
    else:
        joined = torch.cat(frames)
    offsets = torch.tensor([0] + [len(f) for f in frames[:-1]]).cumsum(0)
    rows = {name: torch.cat([part["stream_rows"][name] + offset for part, offset in zip(parts, offsets)])
            for name in parts[0]["stream_rows"]}
    numbers = {"frame_numbers": torch.cat([part["frame_numbers"] for part in parts])} if all(
        "frame_numbers" in part for part in parts) else {}
    return {"frames": joined, "stream_rows": rows, **numbers}


def row_keys(batch: dict) -> Optional[list[tuple[int, int]]]:
    """(video index, frame number) of each row of a training or evaluation batch's ``frames``: rows of two windows
    of one video that hold one frame share a key, so the per-frame encoders take it once
    (``models/frame_encoding.py``). None without ``frame_numbers``."""
    if "frame_numbers" not in batch or "video_index" not in batch:
        return None
    numbers, videos = batch["frame_numbers"].tolist(), batch["video_index"].tolist()
    keys: list = [None] * len(numbers)
    for rows in batch["stream_rows"].values():
        for window, window_rows in enumerate(rows.tolist()):
            for row in window_rows:
                keys[row] = (videos[window], numbers[row])
    return keys


def collate_windows(items: Sequence[dict]) -> dict:
    """The DataLoader's ``collate_fn``: items' frames joined (``join_windows``), the rest stacked."""
    batch = default_collate([{k: v for k, v in item.items() if k not in FRAME_KEYS} for item in items])
    if "frames" in items[0]:
        batch.update(join_windows(items))
    return batch


def stream_frames(batch: dict) -> dict[str, torch.Tensor]:
    """Each stream's frames, (B, T, S, S, 3), picked from the batch's ``frames`` by its
    ``stream_rows``, on the device the frames are on. Whole frames are copied with
    ``index_select`` (fast on CPU and GPU; indexing with a list goes element by element)."""
    frames = batch["frames"]
    return {name: frames.index_select(0, rows.to(frames.device).flatten()).view(*rows.shape, *frames.shape[1:])
            for name, rows in batch["stream_rows"].items()}
