import threading
import time

import pytest

from datamodules.prefetch import prefetch


def test_items_come_in_order_and_complete():
    assert list(prefetch(range(50), depth=3)) == list(range(50))
    assert list(prefetch(iter([]))) == []
    assert list(prefetch(range(5), depth=0)) == list(range(5))


def test_the_producer_runs_ahead_while_the_consumer_works():
    produced = []

    def slow_source():
        for item in range(6):
            time.sleep(0.05)  # "decoding"
            produced.append(item)
            yield item

    started = time.perf_counter()
    for _ in prefetch(slow_source(), depth=2):
        time.sleep(0.05)  # "encoding"
    elapsed = time.perf_counter() - started
    # one after the other would take 0.6 s; overlapped, about 0.35 s
    assert elapsed < 0.5, elapsed


def test_an_error_while_producing_is_raised_at_its_item():
    def failing():
        yield 1
        yield 2
        raise ValueError("corrupt frame")

    seen = []
    with pytest.raises(ValueError, match="corrupt frame"):
        for item in prefetch(failing()):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_leaves_no_thread_running():
    before = {t for t in threading.enumerate() if t.name == "prefetch"}

    def endless():
        item = 0
        while True:
            yield item
            item += 1

    for item in prefetch(endless(), depth=2):
        if item == 3:
            break
    time.sleep(0.01)
    assert {t for t in threading.enumerate() if t.name == "prefetch"} == before

    stream = prefetch(endless())
    next(stream)
    stream.close()
    assert {t for t in threading.enumerate() if t.name == "prefetch" and t.is_alive()} == before
