"""Multi-run commands (``cv``, ``ablate``) that continue where a crash stopped them.

Such a command owns a numbered folder (``<root>/cv/version_N``, ``<root>/ablations/version_N``) whose
``run_state.json`` holds the resolved config it was started with and its hash. Run again, it continues the newest
such folder while unfinished: a finished fit (``fit_result.json`` in its folder) is kept, not retrained; an
interrupted one resumes from its newest ``last.ckpt`` (exact resume, same run folder and W&B run), or starts again
when it died before its first epoch ended; a changed config is refused (``--new`` starts a new folder).

Under DDP every rank runs the command and makes the same choices from the same files; ranks started by Lightning's
launcher also inherit rank 0's folders through ``PLAN_ENV`` (so ``--new`` means one new folder, not one per rank).
Only rank 0 writes the state and result files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch.utilities import rank_zero_only

from callbacks.run_summary import SUMMARY_NAME
from lightning_app.cli import cli_main
from lightning_app.errors import ConfigError
from lightning_app.files import atomic_write_text, read_json
from lightning_app.resume import find_last_checkpoint

STATE_FILE = "run_state.json"
RESULT_FILE = "fit_result.json"
TEST_RESULT_FILE = "test_result.json"
PLAN_ENV = "LIGHTNING_APP_RUN_FOLDER"
NEW_FLAG = "--new"
# Keys that say where a run writes, not what it computes.
UNHASHED = (("trainer", "default_root_dir"), ("ckpt_path",))


def is_rank_zero() -> bool:
    return rank_zero_only.rank == 0


def config_hash(config: dict[str, Any]) -> str:
    kept = json.loads(json.dumps(config, default=str))
    for path in UNHASHED:
        node = kept
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:12]


def _flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(config, dict):
        return {prefix: config}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_changes(before: dict[str, Any], after: dict[str, Any], limit: int = 3) -> str:
    """``model.lr: 0.0003 -> 0.001, ...``: the first keys whose values differ."""
    old, new = _flatten(before), _flatten(after)
    changed = [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)
               and key not in {".".join(path) for path in UNHASHED}]
    text = ", ".join(f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in changed[:limit])
    return text + (f" and {len(changed) - limit} more" if len(changed) > limit else "")


def take_new_flag(args: Sequence[str]) -> tuple[bool, list[str]]:
    return NEW_FLAG in args, [a for a in args if a != NEW_FLAG]


def _versions(root: Path) -> list[Path]:
    found = [p for p in root.glob("version_*") if p.is_dir() and p.name.split("_", 1)[1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("_", 1)[1]))


def next_version(directory: Path) -> Path:
    versions = _versions(directory)
    return directory / f"version_{int(versions[-1].name.split('_', 1)[1]) + 1 if versions else 0}"


class RunFolder:
    """The folder of one multi-run command, new or continued."""

    def __init__(self, directory: Path, state: dict[str, Any]):
        self.directory = directory
        self.state = state

    @classmethod
    def open(cls, root: Path, config: dict[str, Any], new: bool, extra: Optional[dict[str, Any]] = None,
             is_finished: Callable[[Path], bool] = lambda _: False) -> "RunFolder":
        """Continue the newest unfinished folder under ``root`` started with this config, or start ``version_N+1``.
        A rank started by Lightning's launcher takes rank 0's folder."""
        chosen = _chosen_folders()
        if str(root) in chosen and not is_rank_zero():
            directory = Path(chosen[str(root)])
            return cls(directory, read_json(directory / STATE_FILE) or {})
        digest = config_hash(config)
        versions = _versions(root)
        newest = versions[-1] if versions else None
        state = read_json(newest / STATE_FILE) if newest is not None else None
        if not new and state is not None and not is_finished(newest):
            if state.get("config_hash") != digest:
                raise ConfigError(
                    f"{newest} is an unfinished run started with another config "
                    f"({config_changes(state.get('config', {}), config)}): run the same command to continue it, "
                    f"or add {NEW_FLAG} to start a new folder")
            folder = cls(newest, state)
        else:
            directory = next_version(root)
            folder = cls(directory, {"config_hash": digest, "config": config, **(extra or {})})
            if is_rank_zero():
                directory.mkdir(parents=True, exist_ok=True)
                atomic_write_text(directory / STATE_FILE, json.dumps(folder.state, indent=2, default=str) + "\n")
        # for the ranks Lightning launches from here (they inherit the environment)
        os.environ[PLAN_ENV] = json.dumps({**chosen, str(root): str(folder.directory)})
        return folder


def _chosen_folders() -> dict[str, str]:
    """Rank 0's folder per root, as inherited by a launched rank (a rank started by torchrun or
    SLURM inherits nothing and decides from the files, as rank 0 does)."""
    try:
        chosen = json.loads(os.environ.get(PLAN_ENV, "{}"))
    except ValueError:
        return {}
    return chosen if isinstance(chosen, dict) else {}


def fit_result(folder: Path) -> Optional[dict[str, Any]]:
    """The stored summary of a fit that finished in ``folder``, if it did."""
    result = read_json(folder / RESULT_FILE)
    return result.get("summary") if result and result.get("status") == "ok" else None


def newest_summary(folder: Path, stage: str = "fit") -> dict[str, Any]:
    """The ``summary.json`` of the newest ``stage`` run under ``folder`` (written by rank 0, also when
    the run was in spawned processes)."""
    # in the CSV log's version folder; without a logger (--trainer.logger false), in the folder itself
    found = [p for p in [*folder.glob(f"lightning_logs/version_*/{SUMMARY_NAME}"), folder / SUMMARY_NAME] if p.is_file()]
    summaries = [(p.stat().st_mtime, read_json(p)) for p in found]
    runs = [s for _, s in sorted(summaries, key=lambda item: item[0]) if s and s.get("stage") == stage]
    if not runs:
        raise RuntimeError(f"the {stage} run in {folder} wrote no summary.json")
    return runs[-1]


def fit_in_folder(args: Sequence[str], folder: Path, callbacks: Sequence[Any] = ()) -> tuple[dict[str, Any], str]:
    """``fit ARGS`` with ``folder`` as its root directory: kept when it finished before, resumed from its last
    checkpoint when interrupted. Returns its summary and how it ran (``kept``, ``resumed`` or ``trained``).
    ``callbacks`` join the trainer's (``cli_main``)."""
    kept = fit_result(folder)
    if kept is not None:
        return kept, "kept"
    last = find_last_checkpoint(folder)
    resume = ["--ckpt_path", str(last)] if last is not None else []
    cli_main(["fit", *args, "--trainer.default_root_dir", str(folder), *resume], callbacks=callbacks)
    if not is_rank_zero():
        return {}, "resumed" if resume else "trained"
    summary = newest_summary(folder)
    atomic_write_text(folder / RESULT_FILE, json.dumps({"status": "ok", "summary": summary}, indent=2) + "\n")
    return summary, "resumed" if resume else "trained"


def test_in_folder(args: Sequence[str], folder: Path, ckpt_path: str) -> dict[str, Any]:
    """``test ARGS --ckpt_path CKPT`` with ``folder`` as its root directory, once: a test that finished before is
    kept. Returns its summary (``test/*`` scores)."""
    kept = read_json(folder / TEST_RESULT_FILE)
    if kept and kept.get("status") == "ok" and kept.get("ckpt_path") == ckpt_path:
        return kept["summary"]
    cli_main(["test", *args, "--trainer.default_root_dir", str(folder), "--ckpt_path", ckpt_path])
    if not is_rank_zero():
        return {}
    summary = newest_summary(folder, "test")
    atomic_write_text(folder / TEST_RESULT_FILE,
                      json.dumps({"status": "ok", "ckpt_path": ckpt_path, "summary": summary}, indent=2) + "\n")
    return summary
