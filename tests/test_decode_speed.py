import pytest

from benchmarks.decode_speed import worker_timeline


def test_worker_timeline_splits_each_workers_epoch():
    # worker 0: two batches of 2 items, 0.1 s between the batches; worker 1: one batch, then done early
    reads = [(0, 0.0, 1.0), (0, 1.0, 2.0), (1, 0.5, 1.5), (1, 1.5, 2.0), (0, 2.1, 3.0), (0, 3.0, 4.0)]
    timeline = worker_timeline(reads, batch_size=2, epoch_end=4.2)
    first, second = timeline["0"], timeline["1"]
    assert first["items"] == 4 and first["reading_s"] == pytest.approx(3.9)
    assert first["span_s"] == pytest.approx(4.0)
    assert first["between_batches_s"] == pytest.approx(0.1) and first["within_batches_s"] == pytest.approx(0.0)
    assert first["between_batches_median_ms"] == pytest.approx(100.0)
    assert first["done_before_end_s"] == pytest.approx(0.2)
    assert second["items"] == 2 and second["between_batches_s"] == 0.0 and second["done_before_end_s"] == pytest.approx(2.2)


def test_worker_timeline_orders_each_workers_reads_by_time():
    reads = [(0, 2.0, 3.0), (0, 0.0, 1.0), (0, 1.5, 2.0), (0, 1.0, 1.5)]
    timeline = worker_timeline(reads, batch_size=2, epoch_end=3.0)["0"]
    # in time order: [0, 1], [1, 1.5] | [1.5, 2], [2, 3]: no gap anywhere
    assert timeline["between_batches_s"] == pytest.approx(0.0) and timeline["within_batches_s"] == pytest.approx(0.0)
    assert timeline["reading_s"] == pytest.approx(3.0)
