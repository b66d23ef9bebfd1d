"""The training sampler: a shuffle that depends on the seed and the epoch only.

A plain ``shuffle=True`` DataLoader draws each epoch's order from torch's global generator, so a
fit resumed from a checkpoint shuffles differently from one that never stopped. Here epoch e's
order is ``randperm`` under ``seed + e`` (as ``DistributedSampler`` does), the epoch set by
Lightning through ``set_epoch``. A ``RandomSampler``, so that under DDP Lightning sees a shuffled
loader and swaps in a shuffling ``DistributedSampler``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sized

import torch
from torch.utils.data import RandomSampler

# Lightning's seed_everything records the run's seed here (also read by its worker_init_fn).
SEED_VARIABLE = "PL_GLOBAL_SEED"


def run_seed() -> int:
    """The seed ``seed_everything`` set for this run, 0 when none was set."""
    try:
        return int(os.environ.get(SEED_VARIABLE, 0))
    except ValueError:
        return 0


class EpochSeededRandomSampler(RandomSampler):
    """Every index once per epoch, in an order fixed by ``(seed, epoch)``."""

    def __init__(self, data_source: Sized, seed: int = 0):
        super().__init__(data_source, generator=torch.Generator())
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        self.generator.manual_seed(self.seed + self.epoch)
        return super().__iter__()
