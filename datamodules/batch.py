"""The batch contract: the stream names, and how each stream's frames come out of a batch.

Every path that hands windows to the model (training, validation, extraction, batch inference,
streaming) gives it the same layout: a batch's distinct decoded frames once, in ``frames``,
and per stream the rows of ``frames`` each window reads, in ``stream_rows``.
"""

from __future__ import annotations

import torch

# the three streams of a window, in the order the model, the cache and the outputs use
STREAMS = ("video", "image", "text")


def stream_frames(sample: dict) -> dict[str, torch.Tensor]:
    """Each stream's frames of a ``WindowDataset`` batch, (B, T, S, S, 3), or item, (T, S, S, 3),
    picked from its shared ``frames`` by ``stream_rows``, on the device they are on; also of a
    chunk of ``extract``'s windows, whose rows (B, T) index one ``frames`` (F, S, S, 3) they
    all share. Whole frames are copied with ``index_select`` (fast on CPU and GPU)."""
    frames, rows = sample["frames"], sample["stream_rows"]
    if frames.dim() == 4:  # one item, or windows sharing one set of frames
        return {name: frames.index_select(0, r.to(frames.device).flatten()).view(*r.shape, *frames.shape[1:])
                for name, r in rows.items()}
    size, slots = frames.shape[:2]
    flat = frames.flatten(0, 1)
    offsets = torch.arange(size, device=frames.device).unsqueeze(1) * slots
    return {name: flat.index_select(0, (r.to(frames.device) + offsets).flatten()).view(size, r.shape[1], *frames.shape[2:])
            for name, r in rows.items()}
