"""``python -m lightning_app cv --config dvd.yaml [--folds 0,2] [other fit flags]``: every fold in
sequence, each a normal ``fit`` with its own run folder, checkpoint and ``summary.json``, then
one table shaped like the paper's Table 1 (per-fold score, mean, standard deviation, and each
fold's best epoch), printed and written next to the folds.

Layout: ``<default_root_dir>/cv/version_N/fold_K/...`` per fold, and in ``version_N/``:
``cv_summary.json`` (everything), ``cv_table.md`` and ``cv_table.csv``. A fold that fails is
reported in the table and the others still run; the command then exits with status 1.
The standard deviation is the sample standard deviation (n - 1) over the folds that finished.

``--nested``: each fold K is scored once, as a test set, by a model whose checkpoint (and, for
violence, threshold) was chosen on an inner validation fold, K + 1 (mod the fold count), which it
did not train on: the fit holds out both (``--data.fold K+1 --data.test_fold K``), then the
best checkpoint is tested on fold K at the threshold that was best on the inner fold. Without it
each fold both chooses its checkpoint and scores it, which flatters the score (the paper's
Table 1 protocol is not said). The table says which protocol produced its numbers.

Running the same command again continues the newest cv folder until all its folds finished:
finished folds are kept, an interrupted one resumes from its ``last.ckpt``, failed ones run
again; a changed config is refused for it, and ``--new`` starts a new folder
(``lightning_app/resumable_runs.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

from rich.console import Console

from lightning_app.cli import parse_config
from lightning_app.errors import ConfigError, UserError
from lightning_app.resumable_runs import (RunFolder, fit_in_folder, fit_result, is_rank_zero, take_new_flag,
                                          test_in_folder)
from lightning_app.terminal import print_table, write_table
from models.tasks import TASK_CLASSES

CV_DIR = "cv"
NESTED_FLAG = "--nested"
PLAIN_PROTOCOL = ("protocol: each fold chose its checkpoint and is scored on it (optimistic); "
                  "cv --nested scores each fold once, choosing on an inner fold")
NESTED_PROTOCOL = ("protocol: nested; each fold scored once as a test set (test/*), its checkpoint and threshold "
                   "chosen on the inner validation fold (fold + 1 mod folds), left out of training")


def split_folds_flag(args: Sequence[str]) -> tuple[Optional[list[int]], list[str]]:
    """Take ``--folds 0,2`` (or ``--folds=0,2``) out of ``args``."""
    rest, folds, iterator = [], None, iter(args)
    for arg in iterator:
        if arg == "--folds" or arg.startswith("--folds="):
            value = arg.split("=", 1)[1] if "=" in arg else next(iterator, "")
            try:
                folds = [int(x) for x in value.split(",") if x.strip()]
            except ValueError:
                raise ConfigError(f"--folds {value!r}: expected fold numbers separated by commas, e.g. --folds 0,2") from None
            if not folds:
                raise ConfigError("--folds needs at least one fold number, e.g. --folds 0,2")
        else:
            rest.append(arg)
    return folds, rest


def build_table(dataset: str, results: dict[int, dict[str, Any]], metrics: list[str]) -> dict[str, Any]:
    """Per metric: per-fold values, mean and sample std over the folds that finished."""
    rows = {}
    for metric in metrics:
        values = {k: r["summary"].get(metric) for k, r in results.items() if r["status"] == "ok"}
        finished = [v for v in values.values() if v is not None]
        rows[metric] = {
            "folds": {k: (r["summary"].get(metric) if r["status"] == "ok" else None) for k, r in results.items()},
            "mean": statistics.fmean(finished) if finished else None,
            "std": statistics.stdev(finished) if len(finished) > 1 else None,
        }
    best_epochs = {k: (r["summary"].get("best_epoch") if r["status"] == "ok" else None) for k, r in results.items()}
    return {"dataset": dataset, "metrics": rows, "best_epoch": best_epochs,
            "failed": {k: r["error"] for k, r in results.items() if r["status"] != "ok"}}


def _cell(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.4f}"


def table_rows(table: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    folds = list(table["best_epoch"])
    header = ["dataset", "metric", *[f"fold {k}" for k in folds], "mean", "std"]
    rows = []
    for metric, row in table["metrics"].items():
        cells = [("failed" if k in table["failed"] else _cell(row["folds"][k])) for k in folds]
        rows.append([table["dataset"], metric, *cells, _cell(row["mean"]), _cell(row["std"])])
    rows.append([table["dataset"], "best epoch", *[("failed" if k in table["failed"] else str(e)) for k, e in table["best_epoch"].items()], "", ""])
    return header, rows


def write_cv_table(directory: Path, table: dict[str, Any]) -> None:
    header, rows = table_rows(table)
    (directory / "cv_summary.json").write_text(json.dumps(table, indent=2) + "\n")
    write_table(directory / "cv_table", header, rows, note=table.get("protocol"))


def print_cv_table(table: dict[str, Any], directory: Path) -> None:
    header, rows = table_rows(table)
    caption = "\n".join(filter(None, [table.get("protocol"), str(directory)]))
    print_table("cross-validation", header, rows, caption=caption, left_columns=2)
    for fold, error in table["failed"].items():
        Console(stderr=True).print(f"fold {fold} failed: {error}")


def dataset_name(args: Sequence[str], data: dict[str, Any]) -> str:
    """The first config's name (``dvd``, ``affwild2``), else the data folder's name."""
    for index, arg in enumerate(args):
        value = arg.split("=", 1)[1] if arg.startswith("--config=") else (args[index + 1] if arg == "--config" and index + 1 < len(args) else None)
        if value:
            return Path(value).stem
    return Path(str(data.get("root", "data"))).name


@contextlib.contextmanager
def _environment(**values: str):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _uses_wandb(config: dict[str, Any]) -> bool:
    loggers = config["trainer"].get("logger")
    loggers = loggers if isinstance(loggers, list) else [loggers]
    return any(isinstance(item, dict) and str(item.get("class_path", "")).endswith("WandbRunLogger") for item in loggers)


def log_table_to_wandb(table: dict[str, Any], group: str, directory: Path) -> None:
    """One more run in the cv group holding the table, offline under the same rule as the folds."""
    import wandb

    from lightning_app.wandb_logger import offline_by_default

    offline = offline_by_default()
    header, rows = table_rows(table)
    run = wandb.init(project="video-fusion-lab", group=group, name=f"{group}-table", job_type="cv", dir=str(directory),
                     mode="offline" if offline else "online")
    run.log({"cv_table": wandb.Table(columns=header, data=rows)})
    run.summary.update({f"{metric}/mean": row["mean"] for metric, row in table["metrics"].items() if row["mean"] is not None})
    run.finish()


def _finished(folds: list[int]) -> Callable[[Path], bool]:
    return lambda directory: all(fit_result(directory / f"fold_{k}") is not None for k in folds)


def from_rank_zero(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (under DDP, whose process group outlives each fit), else ``value``."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def nested_fold(rest: Sequence[str], fold: int, inner: int, folder: Path) -> tuple[dict[str, Any], str]:
    """Fit holding out ``inner`` (validation) and ``fold`` (test), then test the best checkpoint on ``fold`` at
    the threshold best on ``inner``. Returns the test's summary, with the fit's choices, and how the fit ran."""
    split = ["--data.fold", str(inner), "--data.test_fold", str(fold)]
    fit, how = fit_in_folder([*rest, *split], folder)
    fit = from_rank_zero(fit)  # every rank tests the same checkpoint at the same threshold
    if not fit.get("ckpt_path"):
        raise UserError(f"fold {fold}: the fit kept no best checkpoint to test (see {folder})")
    threshold = fit.get("val/frame_best_threshold")
    chosen = ["--model.threshold", str(threshold)] if threshold is not None else []
    test = test_in_folder([*rest, *split, *chosen], folder, fit["ckpt_path"])
    monitor = fit.get("monitor")
    return {**test, "best_epoch": fit.get("best_epoch"), "inner_fold": inner, "threshold": threshold,
            **({f"inner {monitor}": fit.get(monitor)} if monitor else {})}, how


def run_cv(args: Sequence[str]) -> dict[str, Any]:
    new, args = take_new_flag(args)
    nested, args = NESTED_FLAG in args, [a for a in args if a != NESTED_FLAG]
    folds, rest = split_folds_flag(args)
    config = parse_config(["fit", *rest])
    data = config["data"]["init_args"]
    official = data.get("split_mode") == "official"
    if nested and official:
        raise ConfigError("cv --nested needs --data.split_mode folds: the official split has one validation set")
    num_folds = int(data.get("num_folds", 5))
    if folds is None:
        folds = [0] if official else list(range(num_folds))
    dataset = dataset_name(rest, data)
    root = Path(config["trainer"].get("default_root_dir") or ".") / CV_DIR
    folder = RunFolder.open(root, config, new, extra={"group": f"cv-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"},
                            is_finished=_finished(folds))
    directory, group = folder.directory, folder.state.get("group", f"cv-{dataset}")
    results: dict[int, dict[str, Any]] = {}
    for fold in folds:
        try:
            # W&B: every fold is its own run (the CLI finishes it), grouped under this cv run
            with _environment(WANDB_RUN_GROUP=group, WANDB_NAME=f"{group}-fold{fold}", WANDB_JOB_TYPE="cv-fold"):
                if nested:
                    summary, how = nested_fold(rest, fold, (fold + 1) % num_folds, directory / f"fold_{fold}")
                else:
                    summary, how = fit_in_folder([*rest, "--data.fold", str(fold)], directory / f"fold_{fold}")
            results[fold] = {"status": "ok", "summary": summary, "run": how}
        except (KeyboardInterrupt, SystemExit):
            raise
        except UserError as error:
            results[fold] = {"status": "failed", "error": str(error)}
        except Exception as error:  # a crash in one fold must not lose the others
            traceback.print_exc()
            results[fold] = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
    table = cv_table(dataset, TASK_CLASSES[config["model"].get("task") or "violence"], results, folds, directory,
                     nested)
    if not is_rank_zero():  # every rank ran the folds; rank 0 reports them
        return table
    write_cv_table(directory, table)
    if _uses_wandb(config):
        log_table_to_wandb(table, group, directory)
    print_cv_table(table, directory)
    return table


def cv_table(dataset: str, task: type, results: dict[int, dict[str, Any]], folds: list[int],
             directory: Path, nested: bool = False) -> dict[str, Any]:
    # the task's scores, headline first, then the metric that chose the checkpoints if it is another (nested: the
    # scores on each test fold, then the choosing metric on its inner fold)
    monitor = next((r["summary"].get("monitor") for r in results.values() if r["status"] == "ok"), None)
    if nested:
        metrics = [m.replace("val/", "test/", 1) for m in task.table_metrics] + ([f"inner {monitor}"] if monitor else [])
    else:
        metrics = list(task.table_metrics) + ([monitor] if monitor and monitor not in task.table_metrics else [])
    table = build_table(dataset, results, metrics)
    table["protocol"] = NESTED_PROTOCOL if nested else PLAIN_PROTOCOL
    if nested:  # what each fold's inner validation chose
        table["chosen"] = {k: {key: r["summary"].get(key) for key in ("inner_fold", "threshold", "ckpt_path")}
                           for k, r in results.items() if r["status"] == "ok"}
    table["folds_run"] = folds
    table["fold_dirs"] = {k: str(directory / f"fold_{k}") for k in folds}
    table["kept"] = [k for k, r in results.items() if r.get("run") == "kept"]
    table["resumed"] = [k for k, r in results.items() if r.get("run") == "resumed"]
    table["directory"] = str(directory)
    return table


def cv_main(args: Sequence[str]) -> int:
    table = run_cv(args)
    return 1 if table["failed"] else 0
