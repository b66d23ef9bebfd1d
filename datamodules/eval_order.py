"""The order of validation, test and predict windows read from videos (not from the cache).

The dataset lists each video's windows in time order, so a reader kept open per video decodes
each video once, front to back. But the DataLoader hands batch k to worker k mod W, and a
``DistributedSampler`` gives rank r every R-th window: every worker and rank would decode every
video. Here each rank takes one contiguous run of the windows, and each of its workers one
contiguous run of that (``worker_shares`` long), interleaved as the DataLoader hands batches out.
Metrics do not depend on the order (``EpochPredictions`` keys each window by video and first
frame); the prediction writer puts rows back in dataset order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from torch.utils.data import DistributedSampler

from datamodules.video_order import interleave, worker_shares


def contiguous_order(windows: range | list[int], batch_size: int, num_workers: int) -> list[int]:
    """``windows`` in the order that gives each DataLoader worker one contiguous run of them."""
    streams, first = [], 0
    for share in worker_shares(len(windows), batch_size, num_workers):
        streams.append(list(windows[first : first + share]))
        first += share
    return interleave(streams, batch_size)


class ContiguousRunSampler(DistributedSampler):
    """This rank's windows, not shuffled: a contiguous run ``ceil(N / R)`` long (the last rank's
    padded with its own first windows), in ``contiguous_order``. A ``DistributedSampler``, so
    that Lightning keeps it under DDP rather than wrapping it."""

    def __init__(self, num_windows: int, batch_size: int, num_workers: int, num_replicas: int = 1, rank: int = 0):
        super().__init__(range(num_windows), num_replicas=num_replicas, rank=rank, shuffle=False)
        self.num_windows, self.batch_size, self.num_workers = num_windows, batch_size, num_workers
        self.num_samples = math.ceil(num_windows / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        run = list(range(self.rank * self.num_samples, min((self.rank + 1) * self.num_samples, self.num_windows)))
        source = run or list(range(self.num_windows))  # a rank past the end repeats the first windows
        padded = (source * math.ceil(self.num_samples / max(1, len(source))))[: self.num_samples]
        return iter(contiguous_order(padded, self.batch_size, self.num_workers))

    def __len__(self) -> int:
        return self.num_samples
