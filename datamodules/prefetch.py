"""Runs an iterator in a background thread, a few items ahead of the loop that consumes it:
``extract`` and ``infer`` decode windows there while the encoders run on the previous chunk
(decord, PyAV and torch's resize release the GIL while they work)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = range(3)
_POLL_S = 0.05


def _put(items: queue.Queue, entry: tuple, stop: threading.Event) -> bool:
    """Puts ``entry`` once there is room; False if the consumer stopped first."""
    while not stop.is_set():
        try:
            items.put(entry, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def prefetch(iterable: Iterable[T], depth: int = 2) -> Iterator[T]:
    """The items of ``iterable``, produced up to ``depth`` ahead in a background thread. An
    exception raised while producing is raised here, at its item. When the consumer stops early
    (``break``, an exception, the generator closed), the thread stops after its current item."""
    if depth < 1:
        yield from iterable
        return
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in iterable:
                if not _put(items, (_ITEM, item), stop):
                    return
            _put(items, (_END, None), stop)
        except BaseException as error:  # handed to the consumer, raised there
            _put(items, (_ERROR, error), stop)

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value
            yield value
    finally:
        stop.set()
        thread.join()
