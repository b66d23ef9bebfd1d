import pytest

from datamodules.eval_order import ContiguousRunSampler, contiguous_order
from datamodules.video_order import worker_shares


def _runs(order, batch_size, workers):
    """Each worker's windows, in the order the DataLoader hands it batches (batch k to worker k mod W)."""
    runs = [[] for _ in range(max(1, workers))]
    for k, first in enumerate(range(0, len(order), batch_size)):
        runs[k % max(1, workers)] += order[first : first + batch_size]
    return runs


@pytest.mark.parametrize("workers", [0, 1])
def test_one_process_or_worker_reads_in_dataset_order(workers):
    assert contiguous_order(range(23), 4, workers) == list(range(23))


@pytest.mark.parametrize("total", [0, 1, 7, 8, 23, 64, 101])
@pytest.mark.parametrize("workers", [2, 3, 5])
@pytest.mark.parametrize("batch_size", [1, 4, 8])
def test_each_worker_reads_one_run_of_consecutive_windows(total, workers, batch_size):
    order = contiguous_order(range(total), batch_size, workers)
    assert sorted(order) == list(range(total))
    runs = _runs(order, batch_size, workers)
    assert [len(run) for run in runs] == worker_shares(total, batch_size, workers)
    starts = [run[0] for run in runs if run]
    assert starts == sorted(starts)  # worker 0 reads the first run, and so on
    assert all(run == list(range(run[0], run[0] + len(run))) for run in runs if run)


def test_ranks_take_contiguous_runs_of_equal_length():
    ranks = [list(ContiguousRunSampler(11, batch_size=2, num_workers=2, num_replicas=3, rank=r)) for r in range(3)]
    assert [len(r) for r in ranks] == [4, 4, 4]
    assert sorted(ranks[0]) == [0, 1, 2, 3] and sorted(ranks[1]) == [4, 5, 6, 7]
    assert sorted(set(ranks[2])) == [8, 9, 10]  # padded with its own first window
    assert set().union(*map(set, ranks)) == set(range(11))
    assert all(len(ContiguousRunSampler(11, 2, 2, 3, r)) == 4 for r in range(3))


def test_more_ranks_than_windows_still_gives_every_rank_windows():
    ranks = [list(ContiguousRunSampler(2, batch_size=4, num_workers=0, num_replicas=3, rank=r)) for r in range(3)]
    assert ranks == [[0], [1], [0]]


def test_the_sampler_is_not_shuffled_and_ignores_the_epoch():
    sampler = ContiguousRunSampler(20, batch_size=4, num_workers=2)
    first = list(sampler)
    sampler.set_epoch(3)
    assert list(sampler) == first and not sampler.shuffle
