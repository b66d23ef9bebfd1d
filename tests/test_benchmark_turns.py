import threading

import pytest

from benchmarks.turns import FIRST, SECOND, TurnClock, Turns


def test_two_sides_alternate_turn_by_turn(tmp_path):
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
    turns.start(3)  # would wait for the first side's turn 3 if turns were on
    turns.end(4)


def test_an_unknown_side_is_refused():
    with pytest.raises(ValueError, match="side"):
        Turns("third", "/tmp")


def _run_clock(name, folder, order, lock, epochs=2, steps=5, per_turn=2):
    clock = TurnClock(name, per_turn, folder)
    for epoch in range(epochs):
        clock.epoch_start(epoch)
        for batch_idx in range(steps):
            with lock:
                order.append((name, clock._turn, epoch, batch_idx))
            clock.step_end(batch_idx, steps)
    clock.end()
    return clock.records


def test_the_clock_takes_turns_of_so_many_steps_within_each_epoch(tmp_path):
    order, lock, records = [], threading.Lock(), {}

    def side(name):
        records[name] = _run_clock(name, str(tmp_path), order, lock)

    threads = [threading.Thread(target=side, args=(name,)) for name in (SECOND, FIRST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # 5 steps an epoch in turns of 2: steps 0-1, 2-3 and 4 (the epoch's last turn), then the next epoch
    turn_of = {(epoch, step): epoch * 3 + step // 2 for epoch in range(2) for step in range(5)}
    expected = [(name, turn_of[epoch, step], epoch, step) for turn in range(6) for name in (FIRST, SECOND)
                for (epoch, step) in sorted(turn_of) if turn_of[epoch, step] == turn]
    assert order == expected
    for name in (FIRST, SECOND):
        assert [(r["epoch"], r["turn"]) for r in records[name]] == [(e, turn_of[e, s]) for e in range(2) for s in range(5)]


def test_the_clock_leaves_the_waiting_out(tmp_path):
    """The second side waits for the first's turns; its step times must not include that."""
    import time

    def slow_first():
        clock = TurnClock(FIRST, 1, str(tmp_path))
        clock.epoch_start(0)
        for batch_idx in range(3):
            time.sleep(0.2)  # the first side's steps are slow
            clock.step_end(batch_idx, 3)
        clock.end()

    thread = threading.Thread(target=slow_first)
    thread.start()
    clock = TurnClock(SECOND, 1, str(tmp_path))
    clock.epoch_start(0)
    for batch_idx in range(3):
        clock.step_end(batch_idx, 3)  # the second side's steps take no time
    clock.end()
    thread.join(timeout=30)
    assert len(clock.records) == 3 and all(r["seconds"] < 0.1 for r in clock.records)


def test_a_turn_needs_a_step():
    with pytest.raises(ValueError, match="steps_per_turn"):
        TurnClock(FIRST, 0)
