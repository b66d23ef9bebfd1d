import threading

import pytest

from benchmarks.turns import FIRST, SECOND, Turns


def test_two_sides_alternate_epoch_by_epoch(tmp_path):
    order, lock = [], threading.Lock()

    def side(name, epochs=4):
        turns = Turns(name, str(tmp_path))
        for epoch in range(epochs):
            turns.start(epoch)
            with lock:
                order.append((name, epoch, "start"))
            with lock:
                order.append((name, epoch, "end"))
        turns.end(epochs)

    threads = [threading.Thread(target=side, args=(name,)) for name in (SECOND, FIRST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    expected = [(name, epoch, moment) for epoch in range(4) for name in (FIRST, SECOND) for moment in ("start", "end")]
    assert order == expected


def test_without_a_folder_nothing_waits(monkeypatch):
    monkeypatch.delenv("BENCH_TURNS_DIR", raising=False)
    turns = Turns(SECOND)
    turns.start(3)  # would wait for the first side's epoch 3 if turns were on
    turns.end(4)


def test_an_unknown_side_is_refused():
    with pytest.raises(ValueError, match="side"):
        Turns("third", "/tmp")
