"""What ``extract`` iterates over: every video's windows in chunks, each video decoded front to
back once.

``VideoChunkStream`` is the extraction DataLoader's dataset (``VideoChunkLoader``). Its
DataLoader workers decode videos in parallel, each taking the next video not yet taken, while
the encoders run in the main process; with no workers, a background thread decodes a chunk
or two ahead of the encoders instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from datamodules.balance import deal
from datamodules.cache_claims import VideoClaims
from datamodules.prefetch import prefetch
from datamodules.video_io import SequentialFrameReader
from datamodules.windows import WindowSpec, union_indices
from lightning_app.errors import DataError


@dataclass(frozen=True)
class VideoJob:
    name: str  # the video's name in the cache
    path: Path


class VideoWindowSource:
    """Iterating yields chunks of up to ``windows_per_chunk`` consecutive windows::

        {"frames": (F, S, S, 3) uint8, "stream_rows": {"video": (B, Tv), "image": ..., "text": ...},
         "starts": (B,), "ends": (B,), "text_frames": (B, Tt), "last": whether it is the video's last chunk}

    ``frames`` holds the chunk's distinct sampled frames once, in time order, and
    ``stream_rows`` each window's stream frames among them (``window_dataset.stream_frames``
    picks them out, as it does for training batches): overlapping
    windows share frames, so a chunk of 8 windows (64 frames, stride 32, 16/16/4 per stream)
    carries 90 frames, not 288, from a DataLoader worker and to the GPU.
    Frames shared by overlapping windows are decoded once; frames before the next chunk's
    first index are released, so memory holds about one chunk of frames.
    ``decode_seconds`` and ``num_frames`` are filled in while iterating.
    """

    def __init__(self, job: VideoJob, spec: WindowSpec, windows_per_chunk: int = 8):
        self.job = job
        self.spec = spec
        self.windows_per_chunk = windows_per_chunk
        self.decode_seconds = 0.0
        self.num_frames = 0
        self.frames_decoded = 0

    def __iter__(self) -> Iterator[dict]:
        started = time.perf_counter()
        reader = SequentialFrameReader(self.job.path, self.spec.frame_size)
        self.num_frames = len(reader)
        starts = self.spec.starts(self.num_frames)
        per_window = [self.spec.indices(s, self.num_frames) for s in starts]
        self.decode_seconds += time.perf_counter() - started
        for first in range(0, len(starts), self.windows_per_chunk):
            started = time.perf_counter()
            chunk = per_window[first : first + self.windows_per_chunk]
            needed = union_indices({f"{i}{name}": idx for i, w in enumerate(chunk) for name, idx in w.items()})
            position = {frame: row for row, frame in enumerate(needed)}
            batch = {"frames": torch.from_numpy(reader.get(needed)),
                     "stream_rows": {name: torch.tensor([[position[i] for i in w[name]] for w in chunk], dtype=torch.long)
                              for name in self.spec.per_stream}}
            chunk_starts = starts[first : first + self.windows_per_chunk]
            batch["starts"] = np.asarray(chunk_starts, np.int64)
            batch["text_frames"] = torch.tensor([w["text"] for w in chunk], dtype=torch.long)  # for a captions file
            batch["ends"] = np.minimum(batch["starts"] + self.spec.window, self.num_frames)
            batch["last"] = first + self.windows_per_chunk >= len(starts)
            if first + self.windows_per_chunk < len(starts):
                reader.release_before(min(min(idx) for idx in per_window[first + self.windows_per_chunk].values()))
            self.frames_decoded = reader.decoded
            self.decode_seconds += time.perf_counter() - started
            yield batch


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # missing: reading it will say so, in the errors of the run
        return 0


def _rank_and_world() -> tuple[int, int]:
    """This process's rank among the processes extracting together (0 of 1 outside DDP).
    DataLoader workers cannot ask: they see no process group, so ``VideoChunkLoader`` asks
    before it starts them."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class VideoChunkStream(IterableDataset):
    """Every chunk of every video this process extracts, each video decoded front to back once.

    Items (one per DataLoader item: ``batch_size=None``) are lists of ``chunks_per_item``
    consecutive chunks, of one video or running on into the next ones (the encoders take them
    in one call, so batches stay full across the ends of short videos). A chunk is a
    ``VideoWindowSource`` chunk plus ``"name"`` (the video's cache name), ``"path"``,
    ``"num_frames"``, and the video's ``"decode_seconds"`` and ``"frames_decoded"`` so far; or
    ``{"name", "error"}`` for a video that cannot be read, after whatever chunks of it came
    before (drop those).

    Iterate it through ``VideoChunkLoader``. Under DDP the ranks' shares are dealt by file
    size (``rank_share``). A rank's DataLoader workers share its videos as they go, largest
    first: each, when it is ready for another video, takes the next one no worker has taken
    (a counter the loader gives them), so a worker that drew short videos takes more, and
    none is left decoding alone at the end while the others idle. Chunks of different videos interleave as the workers hand them
    over; a video's own chunks arrive in order. With no workers, a background thread decodes
    ``decode_ahead`` chunks ahead of the consumer.
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
        """The videos of this process's DDP rank, largest file first. The ranks' shares are
        dealt by file size (a free stand-in for decoding time, the same on every rank), so
        they take about equally long; taken largest first, the last videos a rank's workers
        pick up are short ones, and none is left decoding a long one alone at the end."""
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
            source = VideoWindowSource(job, *self.args)
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
    """The DataLoader for a ``VideoChunkStream``: one item (a list of chunks) per batch, handed
    over as it is (``batch_size=None``, ``collate_fn=as_is`` unless given).

    Before its workers start, it tells the stream this process's DDP rank (the workers copy
    the stream, but cannot see the process group themselves) and gives them a fresh counter
    of videos taken. Workers that persist would keep the first pass's counter and find
    nothing left on the next, so ``persistent_workers`` is refused.
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

