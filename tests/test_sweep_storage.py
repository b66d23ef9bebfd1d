"""What a crash leaves in a study: running trials of dead processes are failed and queued again, once."""

import socket
import subprocess
import sys

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from lightning_app.sweep_storage import OWNER_HOST, OWNER_PID, mark_owner, open_storage, recover_stale_trials

SPACE = {"model.lr": FloatDistribution(1e-4, 1e-2, log=True)}


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_running_trials_of_dead_processes_are_failed_and_queued_again_once(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=open_storage(str(tmp_path / "study.journal")), study_name="s")
    alive = study.ask(SPACE)
    mark_owner(alive)  # this process: alive
    dead_here = study.ask(SPACE)
    dead_here.set_user_attr(OWNER_HOST, socket.gethostname())
    dead_here.set_user_attr(OWNER_PID, _dead_pid())
    elsewhere = study.ask(SPACE)
    elsewhere.set_user_attr(OWNER_HOST, "another-host")
    elsewhere.set_user_attr(OWNER_PID, 1)
    assert recover_stale_trials(study) == [dead_here.number]  # another host's trial may still be running
    assert recover_stale_trials(study) == []  # once
    states = {t.number: t.state for t in study.get_trials()}
    assert states[alive.number] == states[elsewhere.number] == TrialState.RUNNING
    assert states[dead_here.number] == TrialState.FAIL
    queued = study.get_trials(states=(TrialState.WAITING,))
    assert [t.user_attrs["retry_of"] for t in queued] == [dead_here.number]
    assert recover_stale_trials(study, every_host=True) == [elsewhere.number]  # no other sweep process runs
    assert study.ask(SPACE).params == dead_here.params  # the queued retry comes first
