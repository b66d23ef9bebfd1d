"""VideoChunkStream: the extraction DataLoader's dataset, in one process and in workers."""

import multiprocessing
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader

import datamodules.extraction_data as extraction_data
from datamodules.batch import stream_frames
from datamodules.extraction_data import VideoChunkLoader, VideoChunkStream, VideoJob, as_is
from datamodules.window_source import VideoWindowSource
from datamodules.video_io import read_frames
from datamodules.windows import WindowSpec, window_indices, window_starts

COUNTS = {"video": 4, "image": 4, "text": 2}


def _jobs(clips_root):
    return [VideoJob(p.name, p) for p in sorted((clips_root / "clips").glob("*.mp4"))]


def _stream(jobs, **kwargs):
    return VideoChunkStream(jobs, WindowSpec(window=16, stride=8, counts=COUNTS, frame_size=16), windows_per_chunk=3, **kwargs)


def _chunks(items) -> list[dict]:
    """The chunks of the stream's items (lists of chunks), in order."""
    return [chunk for item in items for chunk in item]


def _by_video(items) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for chunk in _chunks(items):
        grouped.setdefault(chunk["name"], []).append(chunk)
    return grouped


@pytest.mark.parametrize("loader_class", [VideoChunkLoader, DataLoader])  # shared counter / fixed shares
def test_workers_give_each_video_once_with_the_chunks_of_one_process(clips_root, loader_class):
    jobs = _jobs(clips_root)
    alone = _by_video(_stream(jobs))
    loader = loader_class(_stream(jobs), batch_size=None, collate_fn=as_is, num_workers=2)
    workers = _by_video(loader)
    assert sorted(alone) == sorted(workers) == sorted(job.name for job in jobs)
    for name, chunks in alone.items():
        theirs = workers[name]
        assert [c["last"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
        starts = [int(s) for c in chunks for s in c["starts"]]
        assert starts == window_starts(chunks[0]["num_frames"], 16, 8)  # every window, in order, once
        assert len(theirs) == len(chunks)
        for mine, other in zip(chunks, theirs):
            assert (mine["starts"] == other["starts"]).all() and mine["last"] == other["last"]
            assert torch.equal(mine["frames"], other["frames"]), name
            for stream in COUNTS:
                assert torch.equal(mine["stream_rows"][stream], other["stream_rows"][stream]), (name, stream)
        assert chunks[-1]["frames_decoded"] == theirs[-1]["frames_decoded"] > 0


def test_each_window_gets_the_frames_of_its_own_stream_indices(clips_root):
    job = _jobs(clips_root)[0]
    source = VideoWindowSource(job.path, WindowSpec(window=16, stride=8, counts=COUNTS, frame_size=16), windows_per_chunk=3)
    chunks = list(source)
    assert len(chunks) > 1  # more than one chunk: the frames of earlier ones are released on the way
    for chunk in chunks:
        streams = stream_frames(chunk)
        assert len(chunk["frames"]) == len(torch.unique(torch.cat([r.flatten() for r in chunk["stream_rows"].values()])))
        for row, start in enumerate(chunk["starts"].tolist()):
            wanted = window_indices(start, 16, COUNTS, source.num_frames)
            for stream, indices in wanted.items():
                alone = torch.from_numpy(read_frames(job.path, indices, frame_size=16))  # one window on its own
                assert streams[stream].shape[:2] == (len(chunk["starts"]), COUNTS[stream])
                assert torch.equal(streams[stream][row], alone), (start, stream)
            assert chunk["text_frames"][row].tolist() == wanted["text"]
            assert {name: int(n[row]) for name, n in chunk["stream_lengths"].items()} == {
                name: len(set(indices)) for name, indices in wanted.items()}


def test_ranks_share_the_videos_by_file_size_largest_first(clips_root, tmp_path, monkeypatch):
    jobs = _jobs(clips_root)
    long_one = tmp_path / "long.mp4"
    long_one.write_bytes(b"\0" * sum(job.path.stat().st_size for job in jobs))  # as large as all the others together
    jobs.append(VideoJob("long", long_one))
    shares = []
    for rank in range(2):
        monkeypatch.setattr(extraction_data, "_rank_and_world", lambda rank=rank: (rank, 2))
        shares.append(_stream(jobs).rank_share())
    assert shares[0] == [jobs[-1]]  # the long video alone on one rank, all the others on the other
    assert sorted(shares[1], key=lambda job: job.name) == jobs[:-1]
    sizes = [job.path.stat().st_size for job in shares[1]]
    assert sizes == sorted(sizes, reverse=True)


def test_workers_take_the_next_video_no_other_worker_has_taken(clips_root, monkeypatch):
    jobs = _jobs(clips_root)
    stream = _stream(jobs)
    stream.next_job = multiprocessing.Value("q", 0)
    monkeypatch.setattr(extraction_data, "get_worker_info", lambda: SimpleNamespace(id=0, num_workers=2))
    busy, free = stream._taken(jobs), stream._taken(jobs)  # two workers over one counter
    assert next(busy) == jobs[0]  # one worker takes the first video and is still decoding it
    assert list(free) == jobs[1:]  # the other takes every video left, not every other one
    assert list(busy) == []


def test_the_loader_refuses_persistent_workers(clips_root):
    with pytest.raises(ValueError, match="persistent_workers"):
        VideoChunkLoader(_stream(_jobs(clips_root)), batch_size=None, num_workers=1, persistent_workers=True)


@pytest.mark.parametrize("workers", [0, 1])
def test_an_unreadable_video_is_an_error_item_and_the_others_go_on(clips_root, tmp_path, workers):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    jobs = [VideoJob("broken", broken), *_jobs(clips_root)[:2]]
    chunks = _chunks(VideoChunkLoader(_stream(jobs), num_workers=workers))
    errors = [chunk for chunk in chunks if "error" in chunk]
    assert [e["name"] for e in errors] == ["broken"] and "cannot read video" in errors[0]["error"]
    assert sorted(_by_video([[c for c in chunks if "error" not in c]])) == [job.name for job in jobs[1:]]


def test_items_hold_consecutive_chunks_running_on_into_the_next_videos(clips_root):
    jobs = _jobs(clips_root)
    one_each = _chunks(_stream(jobs))
    items = list(_stream(jobs, chunks_per_item=3))
    assert [len(item) for item in items[:-1]] == [3] * (len(items) - 1) and 1 <= len(items[-1]) <= 3
    assert any(len({chunk["name"] for chunk in item}) > 1 for item in items)  # lists span videos
    together = _chunks(items)
    assert [(c["name"], c["starts"].tolist()) for c in together] == [(c["name"], c["starts"].tolist()) for c in one_each]


def test_in_lists():
    assert list(extraction_data.in_lists(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(extraction_data.in_lists([], 3)) == []
