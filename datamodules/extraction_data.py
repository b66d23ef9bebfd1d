"""What ``extract`` iterates over: every video's windows in chunks
(``window_source.VideoWindowSource``), each video decoded front to back once, by DataLoader
workers in parallel while the encoders run in the main process."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from datamodules.balance import deal
from datamodules.cache_claims import VideoClaims
from datamodules.prefetch import prefetch
from datamodules.window_source import VideoWindowSource
from datamodules.windows import WindowSpec
from lightning_app.errors import DataError


@dataclass(frozen=True)
class VideoJob:
    name: str  # the video's name in the cache
    path: Path


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # missing: reading it will say so, in the errors of the run
        return 0


def _rank_and_world() -> tuple[int, int]:
    """This process's DDP rank and world size (0 and 1 outside DDP). DataLoader workers see no
    process group, so ``VideoChunkLoader`` asks before it starts them."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class VideoChunkStream(IterableDataset):
    """Every chunk of every video this process extracts, each video decoded front to back once.

    Items are lists of ``chunks_per_item`` consecutive chunks, running on across videos (the
    encoders take them in one call, so batches stay full across the ends of short videos). A
    chunk is a ``VideoWindowSource`` chunk plus ``"name"`` (the video's cache name), ``"path"``,
    ``"num_frames"``, and the video's ``"decode_seconds"`` and ``"frames_decoded"`` so far; or
    ``{"name", "error"}`` for a video that cannot be read, after any chunks of it (drop those).

    Iterate it through ``VideoChunkLoader``. Each DDP rank takes its share (``rank_share``); its
    DataLoader workers each take the next video no worker has taken whenever ready (a counter the
    loader gives them), so chunks of different videos interleave, each video's in order. With no
    workers, a background thread decodes ``decode_ahead`` chunks ahead.
    """

    def __init__(self, jobs: list[VideoJob], spec: WindowSpec, windows_per_chunk: int = 8, chunks_per_item: int = 1,
                 decode_ahead: int = 2, claims: Optional[VideoClaims] = None,
                 written: Optional[Callable[[str, Path], bool]] = None):
        self.jobs = list(jobs)
        # with claims, a video another extract job holds, or has written since, is skipped
        self.claims, self.written = claims, written
        self.args = (spec, windows_per_chunk)
        self.chunks_per_item = chunks_per_item
        self.decode_ahead = decode_ahead
        # both set by the loader in the rank's process, before its workers start
        self.rank_and_world: Optional[tuple[int, int]] = None
        self.next_job = None  # a multiprocessing Value: the rank's next video no worker has taken

    def rank_share(self) -> list[VideoJob]:
        """The videos of this process's DDP rank, largest file first. Shares are dealt by file
        size (a free stand-in for decoding time, the same on every rank) so ranks take about
        equally long; largest first, no worker is left decoding a long video alone at the end."""
        rank, world = self.rank_and_world or _rank_and_world()
        sizes = [_file_size(job.path) for job in self.jobs]
        return [self.jobs[position] for position in deal(sizes, world)[rank]]

    def _taken(self, jobs: list[VideoJob]) -> Iterator[VideoJob]:
        """The videos this process decodes, each taken when the last one is done: all of them
        in the rank's own process; in a worker, the next one no other worker has taken."""
        info = get_worker_info()
        if info is None:
            yield from jobs
        elif self.next_job is None:  # a plain DataLoader: a fixed share per worker
            yield from jobs[info.id :: info.num_workers]
        else:
            while True:
                with self.next_job.get_lock():
                    position = self.next_job.value
                    self.next_job.value += 1
                if position >= len(jobs):
                    return
                yield jobs[position]

    def _chunks(self, jobs: Iterable[VideoJob]) -> Iterator[dict]:
        for job in jobs:
            if self.claims is not None:
                if not self.claims.take(job.name):
                    continue  # another extract job on this cache is encoding it
                if self.written is not None and self.written(job.name, job.path):
                    self.claims.release(job.name)  # another job wrote it since this one started
                    continue
            source = VideoWindowSource(job.path, *self.args)
            try:
                for chunk in source:
                    if self.claims is not None:
                        self.claims.refresh(job.name)
                    chunk.update(name=job.name, path=str(job.path), num_frames=source.num_frames,
                                 decode_seconds=source.decode_seconds, frames_decoded=source.frames_decoded)
                    yield chunk
            except DataError as error:
                yield {"name": job.name, "error": str(error)}

    def __iter__(self) -> Iterator[list[dict]]:
        chunks = self._chunks(self._taken(self.rank_share()))
        if get_worker_info() is None:
            chunks = prefetch(chunks, self.decode_ahead)
        return in_lists(chunks, self.chunks_per_item)


def in_lists(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive items in lists of ``size`` (the last one may be shorter)."""
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def as_is(item):
    """collate_fn for ``batch_size=None``: the item unchanged (no numpy-to-tensor conversion)."""
    return item


class VideoChunkLoader(DataLoader):
    """The DataLoader for a ``VideoChunkStream``: one item (a list of chunks) per batch, as it is
    (``batch_size=None``, ``collate_fn=as_is`` unless given). Before its workers start, it tells
    the stream this process's DDP rank and gives the workers a fresh counter of videos taken;
    persistent workers would keep the first pass's counter, so ``persistent_workers`` is refused.
    """

    def __init__(self, dataset: VideoChunkStream, **kwargs):
        if kwargs.get("persistent_workers"):
            raise ValueError("VideoChunkLoader: persistent_workers would see no video after the first pass")
        kwargs.setdefault("batch_size", None)
        kwargs.setdefault("collate_fn", as_is)
        super().__init__(dataset, **kwargs)

    def __iter__(self):
        self.dataset.rank_and_world = _rank_and_world()
        if self.num_workers > 0:
            context = self.multiprocessing_context or torch.multiprocessing
            self.dataset.next_job = context.Value("q", 0)
        return super().__iter__()

