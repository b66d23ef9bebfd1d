"""``python -m lightning_app sweep --config dvd.yaml --sweep sweeps/dvd_bayes.yaml --trials 50 [fit flags]``: a
hyperparameter search run here, with Optuna, from the W&B sweep file ``wandb sweep`` takes
(``lightning_app/sweep_space.py`` maps it).

Each trial is an ordinary ``fit`` (its own run folder, ``summary.json``, ``config.yaml``, CSV log and W&B run, in
the W&B group ``sweep-<name>``) with the trial's parameters as ``--key=value`` flags after the given ones; its value
is the sweep's ``metric.name`` in the fit's ``summary.json`` (the best checkpoint's). ``--cv``: the mean over folds
(``--folds 0,2`` picks some), each fold a fit.

Options (besides any ``fit`` flag): ``--sweep FILE`` (required), ``--trials N`` (else the file's ``run_cap``),
``--storage URL_OR_PATH`` (default: a journal file ``study.journal`` in the sweep folder; an RDB URL such as
``postgresql://...``, or a journal file on a shared filesystem, lets several ``sweep`` processes on one or many
machines work on one study), ``--pruner none|median|halving|hyperband`` (default ``median``, ``none`` for grid,
``hyperband`` when the file asks for it; ``--pruner_startup N`` trials finish unpruned, default 5;
``--pruner_warmup N`` epochs of a trial are never pruned, default 1), ``--seed N`` (the sampler's, default 0),
``--allow_extraction`` (sweep keys that change the cached features: each trial extracts its own), ``--report``
(write the report of the study so far and run nothing), ``--retry_running`` (when no other sweep process runs:
queue again the trials left running by processes of other hosts that died).

Layout: ``<default_root_dir>/sweeps/<name>/``: ``study.journal``, ``trial_NNN/`` (each trial's fit, or its folds),
and the report (``sweep_report.py``): ``trials.md`` / ``trials.csv``, ``best.yaml`` (the best trial's resolved
config: ``fit --config best.yaml`` trains it again), ``optimization_history.png``, ``param_importances.png``,
``parallel_coordinate.png``.

Run the same command again to go on: finished trials are kept, a trial whose process died (on this host) is marked
failed and its parameters queued again (``sweep_storage.py``), and the total reaches ``--trials`` (finished and
pruned trials) with none counted twice. A changed fit config is refused for an existing study.

Under DDP (``--trainer.devices N``), rank 0 talks to the study and hands each trial's flags to the other ranks
(an environment variable for the ranks Lightning's launcher starts, then a broadcast); pruning decisions are
broadcast too (``callbacks/trial_pruning.py``).
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from callbacks.trial_pruning import TrialPruning
from lightning_app.cli import HASHED_SECTIONS, parse_config
from lightning_app.cv import _environment, from_rank_zero, split_folds_flag
from lightning_app.errors import ConfigError, UserError
from lightning_app.resumable_runs import config_hash, fit_in_folder, is_rank_zero
from lightning_app.sweep_space import SweepSpec, read_sweep, sampler, trial_flags
from lightning_app.sweep_storage import mark_owner, open_storage, recover_stale_trials
from models.tasks import TASK_CLASSES, logged_metrics

SWEEP_DIR = "sweeps"
STUDY_FILE = "study.journal"
PLAN_ENV = "LIGHTNING_APP_SWEEP_PLAN"
PRUNERS = ("none", "median", "halving", "hyperband")
MAX_FAILURES_IN_A_ROW = 3
MACHINE_DATA_KEYS = ("root", "cache_dir", "num_workers", "cache_num_workers")
# swept keys that change what the encoders compute: each value needs its own feature cache
FEATURE_KEYS = ("data.window", "data.stride", "data.video_frames", "data.image_frames", "data.text_frames",
                "data.frame_size", "data.framing", "model.video_encoder", "model.clip_encoder", "model.captioner")


@dataclass
class SweepOptions:
    sweep: Optional[str] = None
    trials: Optional[int] = None
    storage: Optional[str] = None
    pruner: Optional[str] = None
    pruner_startup: int = 5
    pruner_warmup: int = 1
    seed: int = 0
    cv: bool = False
    folds: Optional[list[int]] = None
    allow_extraction: bool = False
    report: bool = False
    retry_running: bool = False
    fit_args: list[str] = field(default_factory=list)


def _int_flag(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"--{name} {value!r}: expected a whole number") from None


def parse_sweep_args(args: Sequence[str]) -> SweepOptions:
    """The sweep's own flags out of ``args``; the rest are ``fit`` flags."""
    folds, rest = split_folds_flag(args)
    options, fit_args, iterator = SweepOptions(folds=folds), [], iter(rest)
    valued = {"--sweep", "--trials", "--storage", "--pruner", "--pruner_startup", "--pruner_warmup", "--seed"}
    for arg in iterator:
        name, _, inline = arg.partition("=")
        if name in valued:
            value = inline if inline else next(iterator, "")
            if not value:
                raise ConfigError(f"{name} needs a value")
            key = name[2:]
            if key in ("trials", "pruner_startup", "pruner_warmup", "seed"):
                setattr(options, key, _int_flag(key, value))
            else:
                setattr(options, key, value)
        elif arg in ("--cv", "--allow_extraction", "--report", "--retry_running"):
            setattr(options, arg[2:], True)
        else:
            fit_args.append(arg)
    if not options.sweep:
        raise ConfigError("sweep needs --sweep FILE (a W&B sweep file, e.g. sweeps/dvd_bayes.yaml)")
    if options.pruner is not None and options.pruner not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, got {options.pruner!r}")
    options.fit_args = fit_args
    return options


def short_key(key: str) -> str:
    """``data.init_args.window`` -> ``data.window``: the form both spellings of a key compare in."""
    return key.replace(".init_args.", ".", 1)


def check_sweep(spec: SweepSpec, options: SweepOptions, config: dict[str, Any]) -> None:
    """What would make every trial fail, or waste a cache, as one error before any trial starts."""
    model = config["model"]
    task = TASK_CLASSES[model.get("task") or "violence"]()
    reported = logged_metrics(task, "val", autoencoder=bool(model.get("ae_weight")))
    if spec.metric not in reported:
        raise ConfigError(f"{spec.source}: metric.name {spec.metric!r} is not a metric this run reports; "
                          f"it reports {', '.join(reported)}")
    if config["data"]["init_args"].get("cache_dir") and not options.allow_extraction:
        changing = [key for key in [*spec.space, *spec.fixed]
                    if any(short_key(key) == k or short_key(key).startswith(k + ".") for k in FEATURE_KEYS)]
        if changing:
            raise ConfigError(f"{spec.source}: {', '.join(changing)} change the cached features, so every trial would "
                              "extract its own: drop them from the sweep, or add --allow_extraction")


def pruner_kind(spec: SweepSpec, options: SweepOptions) -> str:
    """``--pruner``, else ``hyperband`` when the file asks for it, ``none`` for grid, ``median`` otherwise."""
    return options.pruner or ("hyperband" if spec.early_terminate else "none" if spec.method == "grid" else "median")


def make_pruner(spec: SweepSpec, options: SweepOptions) -> Any:
    import optuna

    kind = pruner_kind(spec, options)
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=options.pruner_startup, n_warmup_steps=options.pruner_warmup)
    if kind == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, options.pruner_warmup))
    if kind == "hyperband":
        early = spec.early_terminate or {}
        return optuna.pruners.HyperbandPruner(min_resource=int(early.get("min_iter", max(1, options.pruner_warmup))),
                                              reduction_factor=int(early.get("eta", 3)))
    return optuna.pruners.NopPruner()


def computed(config: dict[str, Any]) -> dict[str, Any]:
    """What a study's trials compute (model, data, seed), not where or how they run: the processes of one study
    may differ in devices, precision, workers and where the data and cache are mounted."""
    kept = {key: config.get(key) for key in HASHED_SECTIONS}
    data = dict(kept.get("data") or {})
    data["init_args"] = {k: v for k, v in (data.get("init_args") or {}).items() if k not in MACHINE_DATA_KEYS}
    kept["data"] = data
    return kept


def open_study(spec: SweepSpec, options: SweepOptions, directory: Path, config: dict[str, Any]) -> Any:
    """The sweep's study, created or continued when it exists. A study started with another fit config is refused."""
    import optuna

    storage = open_storage(options.storage or str(directory / STUDY_FILE))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler(spec, options.seed),
                                pruner=make_pruner(spec, options), direction=spec.direction, load_if_exists=True)
    digest = config_hash(computed(config))
    started = study.user_attrs.get("config_hash")
    if started is None:
        study.set_user_attr("config_hash", digest)
        study.set_user_attr("metric", spec.metric)
    elif started != digest:
        raise ConfigError(f"the study {spec.name!r} in {options.storage or directory / STUDY_FILE} was started with "
                          "another fit config: run the same command to continue it, or name another sweep (name: in "
                          "the sweep file) or --storage")
    return study


def counts(study: Any) -> tuple[int, int]:
    """(finished trials: complete or pruned, running trials)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    return finished, sum(t.state == TrialState.RUNNING for t in trials)


def share_plan(plan: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """A trial's plan (its flags, folder and pruning), from rank 0 to every rank. Ranks Lightning's launcher starts
    during the first trial inherit it through ``$LIGHTNING_APP_SWEEP_PLAN``; once a fit has joined the ranks in a
    process group (it outlives each fit), it is broadcast. None ends the sweep on every rank."""
    import torch.distributed as dist

    if plan is None and is_rank_zero():
        os.environ.pop(PLAN_ENV, None)  # the sweep is over: no later fit of this process inherits it
    if dist.is_available() and dist.is_initialized():
        return from_rank_zero(plan)
    if is_rank_zero():
        if plan is not None:
            os.environ[PLAN_ENV] = json.dumps(plan)
        return plan
    inherited = os.environ.pop(PLAN_ENV, None)
    if inherited is None:
        raise ConfigError("a sweep's DDP ranks must be started by Lightning's launcher (--trainer.devices N): run one "
                          "sweep process per machine, all with the same --storage")
    return json.loads(inherited)


def run_trial(plan: dict[str, Any], trial: Any = None) -> tuple[Optional[float], dict[str, Any]]:
    """One trial's fit (or folds), on this rank. Returns its value (rank 0) and what to record of it."""
    folder = Path(plan["folder"])
    pruning = TrialPruning(plan["metric"], trial) if plan["prune"] else None
    group = plan["group"]
    with _environment(WANDB_RUN_GROUP=group, WANDB_NAME=f"{group}-trial{plan['number']}", WANDB_JOB_TYPE="sweep-trial"):
        if plan["folds"] is None:
            summary, _ = fit_in_folder(plan["args"], folder, [pruning] if pruning else [])
            summaries = [summary]
        else:
            summaries = [fit_in_folder([*plan["args"], "--data.fold", str(k)], folder / f"fold_{k}")[0]
                         for k in plan["folds"]]
    values = [s.get(plan["metric"]) for s in summaries]
    value = None if any(v is None for v in values) else sum(values) / len(values)
    record = {"run_folder": str(folder), "epochs": summaries[0].get("epochs"), "best_epoch": summaries[0].get("best_epoch"),
              "pruned_at_epoch": pruning.pruned_at if pruning else None}
    return value, record


def progress_line(study: Any, number: int, value: Optional[float], state: str, metric: str, target: int) -> str:
    finished, _ = counts(study)
    try:
        best = f"best {study.best_value:.4g} (trial {study.best_trial.number})"
    except ValueError:
        best = "no best yet"
    shown = "-" if value is None else f"{value:.4g}"
    return f"trial {number}: {metric} {shown} ({state}); {best}; {finished} of {target} done, {max(0, target - finished)} left"


def lead(spec: SweepSpec, options: SweepOptions, directory: Path, study: Any, target: int, plan_base: dict) -> None:
    """Rank 0's loop: ask the study for a trial, run it with the other ranks, tell the study, until the target, or
    until ``MAX_FAILURES_IN_A_ROW`` of this process's trials failed one after another (a cause that repeats: a
    failed trial does not count towards the target, so the loop would not end)."""
    from optuna.trial import TrialState

    failures = 0
    while True:
        finished, running = counts(study)
        if finished + running >= target or failures >= MAX_FAILURES_IN_A_ROW:
            share_plan(None)
            if failures >= MAX_FAILURES_IN_A_ROW:
                print(f"{failures} trials in a row failed: stopping; fix the cause and run the command again "
                      "to go on", flush=True)
            return
        trial = study.ask(fixed_distributions=spec.space)
        mark_owner(trial)
        flags = trial_flags({**spec.fixed, **trial.params})
        plan = {**plan_base, "number": trial.number, "args": [*options.fit_args, *flags],
                "folder": str(directory / f"trial_{trial.number:03d}")}
        share_plan(plan)
        try:
            value, record = run_trial(plan, trial)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # a failing trial must not end the sweep
            if not isinstance(error, UserError):
                traceback.print_exc()
            trial.set_user_attr("error", f"{type(error).__name__}: {error}")
            study.tell(trial, state=TrialState.FAIL)
            failures += 1
            print(progress_line(study, trial.number, None, f"failed: {error}", spec.metric, target), flush=True)
            continue
        for key, item in record.items():
            trial.set_user_attr(key, item)
        if record["pruned_at_epoch"] is not None:
            study.tell(trial, state=TrialState.PRUNED)
            state = f"pruned after epoch {record['pruned_at_epoch']}"
            failures = 0
        elif value is None or not math.isfinite(value):
            trial.set_user_attr("error", f"no finite {spec.metric} in its summary")
            study.tell(trial, state=TrialState.FAIL)
            state = f"failed: no finite {spec.metric} in its summary"
            failures += 1
        else:
            study.tell(trial, value)
            state = "complete"
            failures = 0
        print(progress_line(study, trial.number, value, state, spec.metric, target), flush=True)


def follow() -> None:
    """Another DDP rank's loop: run the trials rank 0 hands over, until it says the sweep is done."""
    while True:
        plan = share_plan(None)
        if plan is None:
            return
        run_trial(plan)


def run_sweep(args: Sequence[str]) -> dict[str, Any]:
    if not is_rank_zero():
        follow()
        return {}
    options = parse_sweep_args(args)
    spec = read_sweep(options.sweep)
    config = parse_config(["fit", *options.fit_args, *trial_flags(first_values(spec))])
    check_sweep(spec, options, config)
    base = parse_config(["fit", *options.fit_args])
    directory = Path(base["trainer"].get("default_root_dir") or ".") / SWEEP_DIR / spec.name
    directory.mkdir(parents=True, exist_ok=True)
    study = open_study(spec, options, directory, base)
    from lightning_app.sweep_report import write_report

    if options.report:
        return write_report(study, spec, directory)
    recovered = recover_stale_trials(study, every_host=options.retry_running)
    if recovered:
        print(f"trial(s) {', '.join(map(str, recovered))} stopped with their process: marked failed, queued again")
    target = options.trials or spec.run_cap
    if not target:
        raise ConfigError(f"how many trials? give --trials N (the sweep file {spec.source} has no run_cap)")
    if spec.method == "grid" and target > spec.grid_size():
        print(f"the grid has {spec.grid_size()} points: running {spec.grid_size()} trials, not {target}")
        target = spec.grid_size()
    prune = not options.cv and pruner_kind(spec, options) != "none"  # folds: no one epoch count to prune on
    folds = (options.folds or list(range(int(base["data"]["init_args"].get("num_folds", 5))))) if options.cv else None
    plan_base = {"metric": spec.metric, "prune": prune, "folds": folds, "group": f"sweep-{spec.name}"}
    started = time.monotonic()
    lead(spec, options, directory, study, target, plan_base)
    report = write_report(study, spec, directory)
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def first_values(spec: SweepSpec) -> dict[str, Any]:
    """One value of every parameter (each searched key's first or lowest), to check the keys parse before a trial."""
    values = dict(spec.fixed)
    for key, dist in spec.space.items():
        values[key] = dist.choices[0] if hasattr(dist, "choices") else dist.low
    return values


def sweep_main(args: Sequence[str]) -> int:
    report = run_sweep(args)
    return 1 if report.get("failed") else 0
