"""Claims that let independent ``extract`` jobs share one feature cache, each video encoded once.

Before decoding a video, a job (a SLURM array task, another user's) creates ``claims/<video>.claim``
atomically (``O_EXCL``): whoever creates it owns the video, the others skip it. The owner touches
the claim as it goes and removes it once the video's features are written.

A claim is stale, and may be taken over, when its owner is a process of this machine that no
longer runs, or when it has not been touched for ``stale_after_s`` (a job killed on another
node). Taking over happens under a lock file (``fcntl.flock``) and checks the claim again, so
two jobs never both take the same stale claim.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Optional

from datamodules.feature_cache import file_stem, process_alive

CLAIMS_DIR = "claims"
TAKEOVER_LOCK = ".takeover.lock"
# a claim untouched this long belongs to a job that died elsewhere (its owner touches it every chunk)
STALE_AFTER_S = 600.0


class VideoClaims:
    def __init__(self, cache_directory: str | Path, stale_after_s: float = STALE_AFTER_S):
        self.directory = Path(cache_directory) / CLAIMS_DIR
        self.stale_after_s = stale_after_s
        self.owner = {"host": socket.gethostname(), "pid": os.getpid()}

    def path(self, video: str) -> Path:
        return self.directory / f"{file_stem(video)}.claim"

    def take(self, video: str) -> bool:
        """Claim ``video`` for this process; False when another live job holds it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(video)
        if self._create(path, video):
            return True
        if not self.is_stale(path):
            return False
        # one process at a time; looked at again under the lock, a claim just taken over is fresh
        with open(self.directory / TAKEOVER_LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not self.is_stale(path):
                    return False
                path.unlink(missing_ok=True)
                return self._create(path, video)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _create(self, path: Path, video: str) -> bool:
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(handle, "w") as file:
            json.dump({**self.owner, "video": video, "since": time.time()}, file)
        return True

    def _read(self, path: Path) -> Optional[tuple[dict, float]]:
        """A claim's owner (empty while it is being written) and age in seconds; None when it is gone."""
        try:
            age = time.time() - path.stat().st_mtime
            owner = json.loads(path.read_text() or "{}")
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # being written
            return {}, 0.0
        return owner, age

    def _stale(self, owner: dict, age: float) -> bool:
        if owner.get("host") == self.owner["host"] and isinstance(owner.get("pid"), int):
            return not process_alive(owner["pid"])
        return age > self.stale_after_s

    def is_stale(self, path: Path) -> bool:
        claim = self._read(path)
        return claim is None or self._stale(*claim)

    def held_elsewhere(self, video: str) -> bool:
        """Whether a live job other than this process holds ``video``."""
        claim = self._read(self.path(video))
        if claim is None or self._stale(*claim):
            return False
        owner = claim[0]
        return not (owner.get("host") == self.owner["host"] and owner.get("pid") == self.owner["pid"])

    def refresh(self, video: str) -> None:
        try:
            os.utime(self.path(video))
        except FileNotFoundError:
            pass

    def release(self, video: str) -> None:
        self.path(video).unlink(missing_ok=True)
