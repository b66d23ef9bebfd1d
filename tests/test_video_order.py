import random

import pytest

from datamodules.video_order import VideoOrderSampler, video_order, worker_shares


def _videos(sizes, first=0):
    videos, index = [], first
    for size in sizes:
        videos.append(list(range(index, index + size)))
        index += size
    return videos


def _video_of(videos):
    return {window: number for number, video in enumerate(videos) for window in video}


def _worker_reads(order, batch_size, workers, video_of):
    """What each worker reads, as the DataLoader hands batches out (batch k to worker k mod W):
    per worker, per video, the windows in the order read."""
    reads = [{} for _ in range(max(1, workers))]
    for k, first in enumerate(range(0, len(order), batch_size)):
        for window in order[first : first + batch_size]:
            reads[k % max(1, workers)].setdefault(video_of[window], []).append(window)
    return reads


@pytest.mark.parametrize("workers", [0, 1, 2, 3])
@pytest.mark.parametrize("batch_size", [1, 4, 8])
def test_each_worker_reads_its_videos_in_time_order(workers, batch_size):
    rng = random.Random(workers * 10 + batch_size)
    sizes = [rng.randint(1, 12) for _ in range(23)]
    videos = _videos(sizes)
    order = video_order(videos, batch_size, workers)
    assert sorted(order) == sorted(w for v in videos for w in v)  # every window exactly once
    reads = _worker_reads(order, batch_size, workers, _video_of(videos))
    assert [sum(map(len, r.values())) for r in reads] == worker_shares(len(order), batch_size, workers)
    wasted = 0  # windows a front-to-back reader passes over before the first one it reads
    for worker in reads:
        for video, windows in worker.items():
            assert windows == sorted(windows)
            assert windows == list(range(windows[0], windows[-1] + 1))  # a run of the video, no gaps
            wasted += windows[0] - videos[video][0]
    # only the windows handed over to even the workers' shares are passed over (by one worker)
    assert wasted < max(1, workers) * (batch_size + max(sizes))


@pytest.mark.parametrize("sizes", [[10] * 16, [17] * 12, [5, 3, 7, 2, 6, 4, 9, 8, 1]])
@pytest.mark.parametrize("workers", [1, 2, 4])
def test_every_worker_reads_until_the_last_batches(sizes, workers):
    """No batch of windows left over is read at the end of the epoch while other workers wait:
    each worker's last batch comes in the last round of batches."""
    order = video_order(_videos(sizes), 8, workers)
    batches = -(-len(order) // 8)
    shares = worker_shares(len(order), 8, workers)
    assert sum(shares) == len(order) and max(shares) - min(shares) <= 8
    last_batch = {k % workers: k for k in range(batches)}
    assert all(k >= batches - workers for k in last_batch.values())


def test_equal_videos_are_never_split():
    videos = _videos([16] * 12)  # 192 windows: 24 batches of 8, 12 per worker, 6 whole videos each
    reads = _worker_reads(video_order(videos, 8, 2), 8, 2, _video_of(videos))
    assert all(windows == videos[video] for worker in reads for video, windows in worker.items())
    assert sorted(v for worker in reads for v in worker) == list(range(12))


def test_worker_shares_follow_the_dataloaders_round_robin():
    assert worker_shares(204, 8, 2) == [104, 100]
    assert worker_shares(10, 8, 3) == [8, 2, 0]
    assert worker_shares(16, 8, 0) == [16]
    assert worker_shares(0, 8, 2) == [0, 0]


def test_a_batch_mixes_batch_size_videos():
    videos = _videos([10] * 16)
    order = video_order(videos, 8, 2)
    video_of = _video_of(videos)
    batches = [order[i : i + 8] for i in range(0, len(order), 8)]
    assert all(len({video_of[w] for w in batch}) == 8 for batch in batches)


def test_the_sampler_reshuffles_by_epoch_and_is_reproducible():
    video_of_window = [v for v, size in enumerate([5, 3, 7, 2, 6, 4]) for _ in range(size)]
    sampler = VideoOrderSampler(video_of_window, batch_size=2, num_workers=2, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(len(video_of_window))) and len(sampler) == len(first)
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first and sorted(second) == sorted(first)
    again = VideoOrderSampler(video_of_window, batch_size=2, num_workers=2, seed=3)
    again.set_epoch(1)
    assert list(again) == second


def test_ranks_take_whole_videos_and_the_same_number_of_windows():
    sizes = [5, 3, 7, 2, 6, 4, 9]
    video_of_window = [v for v, size in enumerate(sizes) for _ in range(size)]
    for epoch in range(3):
        shares = []
        for rank in range(3):
            sampler = VideoOrderSampler(video_of_window, batch_size=2, num_workers=1, seed=0, num_replicas=3, rank=rank)
            sampler.set_epoch(epoch)
            shares.append(list(sampler))
            assert len(shares[-1]) == len(sampler)
        assert len({len(share) for share in shares}) == 1
        videos = [{video_of_window[w] for w in share} for share in shares]
        assert all(not (a & b) for i, a in enumerate(videos) for b in videos[i + 1:])  # disjoint videos
        assert set().union(*(set(share) for share in shares)) == set(range(len(video_of_window)))


def test_more_ranks_than_videos_still_gives_every_rank_windows():
    samplers = [VideoOrderSampler([0, 0, 1], batch_size=1, num_workers=0, num_replicas=3, rank=r) for r in range(3)]
    lengths = [len(list(s)) for s in samplers]
    assert lengths == [len(s) for s in samplers] and len(set(lengths)) == 1 and lengths[0] > 0
