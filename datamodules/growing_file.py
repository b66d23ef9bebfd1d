"""Reading a video file that is still being written (a recorder's output), as a stream.

``GrowingFile`` is a read-only, non-seekable file object that at the current end waits for the
file to grow, and reports the end once it has not grown for ``idle_seconds``. PyAV opens it like
a pipe, so the container must be readable while written: Matroska/WebM, MPEG-TS, fragmented MP4
(``-movflags frag_keyframe+empty_moov``); not a plain MP4 (its index is written at the end).
"""

from __future__ import annotations

import io
import time
from pathlib import Path


class GrowingFile(io.RawIOBase):
    def __init__(self, path: str | Path, idle_seconds: float = 5.0, poll_seconds: float = 0.05):
        super().__init__()
        self.path = Path(path)
        self.idle_seconds, self.poll_seconds = idle_seconds, poll_seconds
        self._handle = self.path.open("rb")
        self.waited = 0.0  # total seconds spent waiting for data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        idle_since = None
        while True:
            count = self._handle.readinto(buffer)
            if count:
                return count
            now = time.monotonic()
            idle_since = now if idle_since is None else idle_since
            if now - idle_since >= self.idle_seconds:
                return 0  # no growth for idle_seconds: the writer is done
            time.sleep(self.poll_seconds)
            self.waited += self.poll_seconds

    def close(self) -> None:
        self._handle.close()
        super().close()
