"""The ``by_video`` training order: each DataLoader worker decodes its videos front to back.

A plain shuffle decodes every window on its own, from the keyframe before it, and overlapping
windows' frames twice. Here each video's windows stay in time order on one worker, whose
``SequentialFrameReader`` decodes the video once (``WindowDataset`` with ``open_readers``):

* each epoch the videos are shuffled under ``seed + epoch`` (as the default sampler does);
* under DDP each rank takes a share of whole videos (balanced by window count) and all ranks
  get the same number of windows (a short rank repeats a few of its own, as
  ``DistributedSampler`` pads);
* a rank's videos are dealt to its DataLoader workers, and within a worker to ``batch_size``
  lanes; a worker's batches take one window from each lane in turn, so a batch mixes
  ``batch_size`` videos and the next batch of that worker continues them;
* the DataLoader hands batch k to worker k mod W, so each worker must read exactly its share
  (``worker_shares``); a worker that dealing whole videos left over its share hands windows to
  one under it (``_fill_shares``), so no batch of leftovers is read while the others wait.

Every window of the rank comes once per epoch (plus the padding above); the price is a coarser
shuffle, consecutive batches of one worker holding the next windows of the same videos.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import DistributedSampler

from datamodules.balance import deal


def worker_shares(total: int, batch_size: int, num_workers: int) -> list[int]:
    """How many of ``total`` windows each DataLoader worker reads: the DataLoader hands batch
    k to worker k mod W, and only the last batch may be short."""
    workers = max(1, num_workers)
    shares = [0] * workers
    for batch, first in enumerate(range(0, total, batch_size)):
        shares[batch % workers] += min(batch_size, total - first)
    return shares


def interleave(streams: Sequence[Sequence[int]], batch_size: int) -> list[int]:
    """The order in which worker w reads ``streams[w]`` (batches cut in order): batch k of the
    whole goes to worker k mod W. Needs stream lengths from ``worker_shares``."""
    batches = [[stream[i : i + batch_size] for i in range(0, len(stream), batch_size)] for stream in streams]
    return [window for round_ in range(max(map(len, batches), default=0))
            for worker in batches if round_ < len(worker) for window in worker[round_]]


def _fill_shares(pieces: list[list[list[int]]], shares: Sequence[int]) -> None:
    """Moves windows between workers' pieces (runs of one video's windows, in time order) until
    worker w holds ``shares[w]``: whole pieces where they fit, else a piece's first windows, so
    the taker decodes only the video's start again (readers decode from the first frame)."""
    surplus = [sum(map(len, worker)) - share for worker, share in zip(pieces, shares)]
    for giver in range(len(pieces)):
        while surplus[giver] > 0:
            taker = min(range(len(pieces)), key=lambda w: (surplus[w], w))
            amount = min(surplus[giver], -surplus[taker])
            fitting = [p for p in pieces[giver] if len(p) <= amount]
            if fitting:
                piece = max(fitting, key=len)
                pieces[giver].remove(piece)
            else:
                source = min(pieces[giver], key=len)
                piece, source[:] = source[:amount], source[amount:]
            pieces[taker].insert(0, piece)  # read first: a fresh reader starts at the video's start
            surplus[giver] -= len(piece)
            surplus[taker] += len(piece)


def video_order(videos: Sequence[Sequence[int]], batch_size: int, num_workers: int) -> list[int]:
    """One rank's window order. ``videos`` lists each video's windows (dataset indices) in
    time order, in the order the videos were shuffled; returns every window once."""
    workers = max(1, num_workers)
    pieces = [[list(videos[p]) for p in sorted(share)] for share in deal([len(v) for v in videos], workers)]
    _fill_shares(pieces, worker_shares(sum(map(len, videos)), batch_size, workers))
    streams = []
    for worker in pieces:
        lanes = [[window for p in sorted(positions) for window in worker[p]]
                 for positions in deal([len(p) for p in worker], batch_size)]
        streams.append([lane[step] for step in range(max(map(len, lanes), default=0)) for lane in lanes
                        if step < len(lane)])
    return interleave(streams, batch_size)


class VideoOrderSampler(DistributedSampler):
    """Yields this rank's windows in the ``by_video`` order of epoch ``set_epoch(e)``. A
    ``DistributedSampler`` (for one rank or many), so that Lightning keeps it under DDP rather
    than wrapping it, and calls ``set_epoch`` on it."""

    def __init__(self, video_of_window: Sequence[int], batch_size: int, num_workers: int, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0):
        # the parent's checks and fields; it never iterates the (unused) dataset
        super().__init__(range(len(video_of_window)), num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.batch_size, self.num_workers = batch_size, num_workers
        by_video: dict[int, list[int]] = {}
        for index, video in enumerate(video_of_window):  # windows arrive in time order per video
            by_video.setdefault(video, []).append(index)
        self.videos = [by_video[v] for v in sorted(by_video)]
        self.num_samples = self._rank_windows(0)[1]
        self.total_size = self.num_samples * self.num_replicas

    def _rank_windows(self, epoch: int) -> tuple[list[list[int]], int]:
        """This rank's videos for ``epoch`` (shuffled) and the windows every rank yields (the
        largest share; the same every epoch, since the deal depends on the sizes alone)."""
        generator = torch.Generator().manual_seed(self.seed + epoch)
        shuffled = [self.videos[i] for i in torch.randperm(len(self.videos), generator=generator).tolist()]
        shares = deal([len(v) for v in shuffled], self.num_replicas)
        per_rank = max(sum(len(shuffled[p]) for p in share) for share in shares) if shuffled else 0
        mine = [shuffled[p] for p in sorted(shares[self.rank])]
        return mine, per_rank

    def __iter__(self) -> Iterator[int]:
        videos, per_rank = self._rank_windows(self.epoch)
        order = video_order(videos, self.batch_size, self.num_workers)
        if len(order) < per_rank:  # pad as DistributedSampler does: repeat from the start
            source = order or [window for video in self.videos for window in video]  # a rank with no video
            order = (source * math.ceil(per_rank / len(source)))[:per_rank]
        return iter(order)

    def __len__(self) -> int:
        return self.num_samples
