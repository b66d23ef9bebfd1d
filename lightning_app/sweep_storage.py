"""Where a sweep's Optuna study lives, and what a crash left in it.

* ``open_storage``: an RDB URL (``sqlite:///...``, ``postgresql://...``; several machines may share one), or a
  journal file (any other path; ``study.journal`` in the sweep folder by default), safe on a shared filesystem
  (an open-file lock, which NFS honours).
* ``recover_stale_trials``: a trial still RUNNING whose process is gone (on this host, its pid no longer alive)
  is marked FAIL and its parameters queued again, so a rerun after SIGKILL retries it and counts each trial once.
  A trial of another host is left alone, since its process may be running; with ``every_host`` (``sweep
  --retry_running``, for when no other sweep process runs) every RUNNING trial not of a live process here is.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

OWNER_HOST, OWNER_PID = "host", "pid"  # the user attributes that say which process runs a trial


def is_rdb_url(storage: str) -> bool:
    return "://" in storage


def open_storage(storage: str) -> Any:
    """The Optuna storage ``storage`` names (see the module doc)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    if is_rdb_url(storage):
        return optuna.storages.RDBStorage(storage)
    path = Path(storage).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))


def mark_owner(trial: Any) -> None:
    """Records on a trial which process runs it (host and pid), for ``recover_stale_trials``."""
    trial.set_user_attr(OWNER_HOST, socket.gethostname())
    trial.set_user_attr(OWNER_PID, os.getpid())


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_stale_trials(study: Any, every_host: bool = False) -> list[int]:
    """Fails the RUNNING trials whose process is gone and queues their parameters again; returns their numbers."""
    from optuna.trial import TrialState

    host = socket.gethostname()

    def gone(trial) -> bool:
        here = trial.user_attrs.get(OWNER_HOST) == host
        alive = here and process_alive(int(trial.user_attrs.get(OWNER_PID, -1)))
        return not alive and (here or every_host)

    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not gone(trial):
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (RuntimeError, ValueError):  # another process recovered it first
            continue
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        recovered.append(trial.number)
    return recovered
