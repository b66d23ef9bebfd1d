import random

import pytest

from datamodules.video_order import VideoOrderSampler, video_order


def _videos(sizes, first=0):
    videos, index = [], first
    for size in sizes:
        videos.append(list(range(index, index + size)))
        index += size
    return videos


def _video_of(videos):
    return {window: number for number, video in enumerate(videos) for window in video}


@pytest.mark.parametrize("workers", [0, 1, 2, 3])
@pytest.mark.parametrize("batch_size", [1, 4, 8])
def test_each_worker_reads_its_videos_in_time_order(workers, batch_size):
    rng = random.Random(workers * 10 + batch_size)
    videos = _videos([rng.randint(1, 12) for _ in range(23)])
    order = video_order(videos, batch_size, workers)
    assert sorted(order) == sorted(w for v in videos for w in v)  # every window exactly once
    video_of = _video_of(videos)
    # the DataLoader hands batch k to worker k mod W; leftovers (fewer than W x batch_size
    # windows) may land anywhere
    full = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    loads = {}
    for k, batch in enumerate(full):
        for window in batch:
            loads.setdefault(video_of[window], []).append((k % max(1, workers), window))
    out_of_place = 0
    for video, seen in loads.items():
        main_owner = next(owner for owner, w in seen if w == videos[video][-1])
        out_of_place += sum(owner != main_owner for owner, _ in seen)
        first = videos[video][0]
        in_order = [w for owner, w in seen if owner == main_owner and w != first]
        assert in_order == sorted(in_order)
        # the first window is read first, or among the leftovers at the end of the epoch, by
        # any worker: re-reading it decodes only the start of the video; no other window moves
        assert all(w == first for owner, w in seen if owner != main_owner)
        position = order.index(first)
        assert position >= len(order) - max(1, workers) * batch_size or all(order.index(w) > position for w in in_order)
    assert out_of_place < max(1, workers) * batch_size


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
