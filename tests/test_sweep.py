"""The sweep command as users run it (``python -m lightning_app sweep``) on the tiny preset from a feature cache:
two processes sharing one study, a best.yaml that trains its trial again, a SIGKILL and a rerun, pruning under
DDP, and the errors that stop a sweep before its first trial."""

import csv
import json
import subprocess
import sys

import pytest
import yaml

from lightning_app.errors import ConfigError
from lightning_app.sweep import run_sweep
from tests.conftest import REPO, data_args, run_app

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
         "--trainer.accelerator", "cpu"]


@pytest.fixture(scope="module")
def cache(clips_root, tmp_path_factory):
    from lightning_app.extract import extract_main

    directory = tmp_path_factory.mktemp("sweep_cache") / "cache"
    assert extract_main(["--config", "demo.yaml", "--config", "presets/tiny.yaml", *data_args(clips_root),
                         "--data.cache_dir", str(directory), "--trainer.default_root_dir", str(directory.parent), *QUIET]) == 0
    return directory


def _fit_args(clips_root, cache, runs, epochs=2):
    return ["--config", "demo.yaml", "--config", "presets/tiny.yaml", *data_args(clips_root), "--data.cache_dir",
            str(cache), "--trainer.max_epochs", str(epochs), "--trainer.default_root_dir", str(runs), *QUIET]


def _sweep_file(path, parameters, method="random", name="tiny", metric="val/loss"):
    path.write_text(yaml.safe_dump({"name": name, "method": method, "metric": {"name": metric, "goal": "minimize"},
                                    "parameters": parameters}))
    return str(path)


def _trials(directory):
    with (directory / "trials.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_two_sweep_processes_share_a_study_and_best_yaml_trains_its_trial_again(clips_root, cache, tmp_path):
    sweep = _sweep_file(tmp_path / "s.yaml", {"model.lr": {"distribution": "log_uniform_values", "min": 1e-4,
                                                           "max": 3e-3}, "model.hidden_dim": {"values": [8, 16]}})
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "lightning_app", "sweep", *_fit_args(clips_root, cache, runs), "--sweep", sweep,
               "--trials", "4", "--pruner", "none"]
    env = {**__import__("os").environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    workers = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err[-2000:] for _, err in outputs]
    directory = runs / "sweeps" / "tiny"
    rows = _trials(directory)
    assert len(rows) == 4 and {r["state"] for r in rows} == {"complete"}
    assert len({r["run folder"] for r in rows}) == 4 and len({r["trial"] for r in rows}) == 4  # none run twice
    done = [line for out, _ in outputs for line in out.splitlines() if line.startswith("trial ")]
    assert len(done) == 4 and all("of 4 done" in line for line in done)
    assert {"optimization_history.png", "param_importances.png", "parallel_coordinate.png"} <= {
        p.name for p in directory.iterdir()}
    report = json.loads((directory / "sweep_summary.json").read_text())
    best = report["best"]
    assert best["value"] == min(t["value"] for t in report["trials"])

    from lightning_app.cli import cli_main

    # --report: the report of the study so far, no trial run
    again_report = run_sweep([*_fit_args(clips_root, cache, runs), "--sweep", sweep, "--trials", "4", "--report"])
    assert [t["number"] for t in again_report["trials"]] == [0, 1, 2, 3] and again_report["best"] == best

    cli_main(["fit", "--config", str(directory / "best.yaml")])  # the best trial's config, trained again
    again = json.loads(next((directory / "best").rglob("summary.json")).read_text())
    assert again["val/loss"] == best["value"]  # exactly, on CPU


def test_a_killed_sweep_continues_and_runs_each_grid_point_once(clips_root, cache, tmp_path):
    lrs = [0.001, 0.002, 0.003]
    sweep = _sweep_file(tmp_path / "grid.yaml", {"model.lr": {"values": lrs}}, method="grid", name="grid")
    args = ["sweep", *_fit_args(clips_root, cache, tmp_path / "runs", epochs=2), "--sweep", sweep, "--trials", "3",
            "--trainer.callbacks+=tests.test_cv.KillAtEpoch"]
    killed = run_app(*args, KILL_IN="trial_001", KILL_AT_EPOCH="1")
    assert killed.returncode == -9, killed.stderr[-2000:]
    again = run_app(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "trial(s) 1 stopped with their process: marked failed, queued again" in again.stdout
    rows = _trials(tmp_path / "runs" / "sweeps" / "grid")
    finished = [r for r in rows if r["state"] == "complete"]
    assert len(finished) == 3 and sorted(float(r["model.lr"]) for r in finished) == lrs  # each point once
    assert [r["trial"] for r in rows if r["state"] == "fail"] == ["1"]


def test_pruning_stops_a_clearly_worse_trial_on_both_ddp_ranks(clips_root, cache, tmp_path):
    runs = tmp_path / "runs"
    pruning = ["--pruner", "median", "--pruner_startup", "1", "--pruner_warmup", "1"]
    good = _sweep_file(tmp_path / "good.yaml", {"model.lr": {"value": 0.003}}, name="prune")
    first = run_sweep([*_fit_args(clips_root, cache, runs, epochs=3), "--sweep", good, "--trials", "1", *pruning])
    assert [t["state"] for t in first["trials"]] == ["complete"]
    # the same study, a trial that cannot learn (lr 0), as a 2-process gloo DDP run: both ranks must stop together
    frozen = _sweep_file(tmp_path / "frozen.yaml", {"model.lr": {"value": 0.0}}, name="prune")
    second = run_app("sweep", *_fit_args(clips_root, cache, runs, epochs=3), "--sweep", frozen, "--trials", "2",
                     "--trainer.devices", "2", *pruning)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "trial 1: val/loss" in second.stdout and "(pruned after epoch 1)" in second.stdout
    rows = _trials(runs / "sweeps" / "prune")
    assert [r["state"] for r in rows] == ["complete", "pruned"]
    with next((runs / "sweeps" / "prune" / "trial_001").rglob("metrics.csv")).open() as handle:
        trained = {int(row["epoch"]) for row in csv.DictReader(handle) if row.get("train/loss")}
    assert trained == {0, 1}  # stopped after epoch 1 of 3 (then the kept checkpoint is validated once more)


def test_errors_before_any_trial(clips_root, cache, tmp_path):
    runs = tmp_path / "runs"
    args = _fit_args(clips_root, cache, runs)
    missing = _sweep_file(tmp_path / "m.yaml", {"model.lr": {"values": [0.001]}}, metric="val/frame_ccc")
    with pytest.raises(ConfigError, match="metric.name 'val/frame_ccc' is not a metric this run reports"):
        run_sweep([*args, "--sweep", missing, "--trials", "2"])
    window = _sweep_file(tmp_path / "w.yaml", {"data.init_args.window": {"values": [32, 64]}})
    with pytest.raises(ConfigError, match="data.init_args.window change the cached features.*--allow_extraction"):
        run_sweep([*args, "--sweep", window, "--trials", "2"])
    with pytest.raises(ConfigError, match="sweep needs --sweep FILE"):
        run_sweep(args)
    assert not (runs / "sweeps").exists()  # nothing started


def test_a_cause_that_fails_every_trial_stops_the_sweep(clips_root, cache, tmp_path, capsys):
    sweep = _sweep_file(tmp_path / "heads.yaml", {"model.num_heads": {"values": [3, 5]}}, name="heads")  # 16 % 3 != 0
    report = run_sweep([*_fit_args(clips_root, cache, tmp_path / "runs"), "--model.hidden_dim", "16", "--sweep", sweep,
                        "--trials", "10", "--pruner", "none"])
    assert [t["state"] for t in report["trials"]] == ["fail"] * 3 and report["failed"] == 3
    assert all("not divisible by num_heads" in t["error"] for t in report["trials"])
    assert "3 trials in a row failed: stopping" in capsys.readouterr().out


def test_with_cv_a_trial_scores_the_mean_over_its_folds(clips_root, cache, tmp_path):
    sweep = _sweep_file(tmp_path / "cv.yaml", {"model.lr": {"values": [0.001]}}, name="cv")
    report = run_sweep([*_fit_args(clips_root, cache, tmp_path / "runs", epochs=1), "--sweep", sweep, "--trials", "1",
                        "--cv", "--folds", "0,1"])
    folds = [json.loads(next((tmp_path / "runs" / "sweeps" / "cv" / "trial_000" / f"fold_{k}").rglob("summary.json"))
                        .read_text()) for k in (0, 1)]
    assert [f["stage"] for f in folds] == ["fit", "fit"]
    assert report["trials"][0]["value"] == pytest.approx((folds[0]["val/loss"] + folds[1]["val/loss"]) / 2)
