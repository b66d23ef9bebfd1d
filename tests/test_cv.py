"""End-to-end ``cv`` runs on the tiny preset."""

import csv
import json
import os
import signal

import lightning.pytorch as pl
import numpy as np
import pytest

from lightning_app.cv import build_table, cv_main, split_folds_flag
from lightning_app.errors import ConfigError
from lightning_app.resumable_runs import RESULT_FILE, RunFolder
from tests.conftest import data_args, run_app
from tests.synthetic_affwild2 import write_synthetic_affwild2

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu"]


def test_folds_flag():
    assert split_folds_flag(["--config", "a.yaml", "--folds", "0,2", "--x", "1"]) == ([0, 2], ["--config", "a.yaml", "--x", "1"])
    assert split_folds_flag(["--folds=3"]) == ([3], [])
    assert split_folds_flag(["--config", "a.yaml"]) == (None, ["--config", "a.yaml"])
    with pytest.raises(ConfigError):
        split_folds_flag(["--folds", "one"])


def test_table_mean_and_sample_std():
    results = {0: {"status": "ok", "summary": {"val/f1": 0.5, "best_epoch": 3}},
               1: {"status": "ok", "summary": {"val/f1": 0.7, "best_epoch": 1}},
               2: {"status": "failed", "error": "boom"}}
    table = build_table("dvd", results, ["val/f1"])
    row = table["metrics"]["val/f1"]
    assert row["mean"] == pytest.approx(0.6) and row["std"] == pytest.approx(0.1414213562)
    assert table["best_epoch"] == {0: 3, 1: 1, 2: None} and table["failed"] == {2: "boom"}


def test_cv_on_affwild2_two_folds(tmp_path, capsys):
    root = write_synthetic_affwild2(tmp_path / "affwild2", num_videos=8, seed=0)
    runs = tmp_path / "runs"
    code = cv_main(["--config", "affwild2.yaml", "--config", "presets/tiny.yaml", "--data.root", str(root),
                    "--data.num_folds", "2", "--data.num_workers", "0", "--data.batch_size", "4",
                    "--trainer.max_epochs", "2", "--trainer.default_root_dir", str(runs), *QUIET])
    assert code == 0
    directory = runs / "cv" / "version_0"
    summary = json.loads((directory / "cv_summary.json").read_text())
    assert summary["folds_run"] == [0, 1] and not summary["failed"]
    assert set(summary["metrics"]) == {"val/ccc", "val/frame_ccc"}
    for fold in ("0", "1"):
        fold_summary = json.loads(next((directory / f"fold_{fold}").rglob("summary.json")).read_text())
        assert summary["metrics"]["val/ccc"]["folds"][fold] == pytest.approx(fold_summary["val/ccc"])
        assert summary["metrics"]["val/frame_ccc"]["folds"][fold] == pytest.approx(fold_summary["val/frame_ccc"])
        assert fold_summary["monitor"] == "val/frame_ccc"  # the challenge's score selects checkpoints
        assert summary["best_epoch"][fold] == fold_summary["best_epoch"]
        folds_file = json.loads(next((directory / f"fold_{fold}").rglob("folds.json")).read_text())
        assert folds_file["fold"] == int(fold)
    with (directory / "cv_table.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["dataset", "metric", "fold 0", "fold 1", "mean", "std"]
    assert [r[1] for r in rows[1:]] == ["val/frame_ccc", "val/ccc", "best epoch"]  # the monitored score first
    assert "cross-validation" in capsys.readouterr().out
    # the Aff-Wild2 submission of the folds' ensemble: a file per track (both faces of video000), a line per frame
    from lightning_app.submit import submit_main

    names = tmp_path / "names.txt"
    names.write_text("video000_left\nvideo000_right\nvideo003\n")
    sub = tmp_path / "sub"
    assert submit_main(["--ckpt_path", str(directory), "--data.root", str(root), "--split", "Training", "--names",
                        str(names), "--out", str(sub), "--device", "cpu"]) == 0
    report = json.loads((sub / "summary.json").read_text())
    assert len(report["checkpoints"]) == 2 and report["written"] == 3 and -1.0 <= report["score"] <= 1.0
    annotations = root / "VA_Estimation_Challenge" / "Train_Set"
    for name in ("video000_left", "video000_right", "video003"):
        lines = (sub / f"{name}.txt").read_text().splitlines()
        assert lines[0] == "valence,arousal" and len(lines) == len((annotations / f"{name}.txt").read_text().splitlines())
        values = np.array([[float(x) for x in line.split(",")] for line in lines[1:]])
        assert np.isfinite(values).all() and (np.abs(values) <= 1).all()


def test_a_failing_fold_is_reported_and_the_others_run(clips_root, tmp_path):
    runs = tmp_path / "runs"
    code = cv_main(["--config", "demo.yaml", "--config", "presets/tiny.yaml", *data_args(clips_root), "--folds", "0,7",
                    "--trainer.max_epochs", "1", "--trainer.default_root_dir", str(runs), *QUIET])
    assert code == 1
    summary = json.loads((runs / "cv" / "version_0" / "cv_summary.json").read_text())
    assert list(summary["failed"]) == ["7"] and "--data.fold 7 is not a fold" in summary["failed"]["7"]
    assert summary["metrics"]["val/f1"]["folds"]["0"] is not None


class KillAtEpoch(pl.Callback):
    """SIGKILLs its own process when a fit under the folder ``$KILL_IN`` starts epoch
    ``$KILL_AT_EPOCH``: a crash at a known point. Without ``$KILL_IN`` it does nothing, so the
    killed run, its rerun and the uninterrupted reference share one config."""

    def on_train_epoch_start(self, trainer, pl_module):
        folder = os.environ.get("KILL_IN")
        if folder and folder in str(trainer.default_root_dir) and trainer.current_epoch == int(os.environ["KILL_AT_EPOCH"]):
            os.kill(os.getpid(), signal.SIGKILL)


def _cv_command(clips_root, runs, *extra, kill_in=None):
    args = ["--config", "demo.yaml", "--config", "presets/tiny.yaml", *data_args(clips_root), "--data.num_folds", "2",
            "--trainer.max_epochs", "3", "--trainer.default_root_dir", str(runs),
            "--trainer.callbacks+=tests.test_cv.KillAtEpoch", *extra]
    return run_app("cv", *args, **({"KILL_IN": kill_in, "KILL_AT_EPOCH": "2"} if kill_in else {}))


@pytest.mark.slow
def test_a_killed_cv_continues_in_its_folder_and_ends_as_an_uninterrupted_one(clips_root, tmp_path):
    killed = _cv_command(clips_root, tmp_path / "runs", kill_in="fold_1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    directory = tmp_path / "runs" / "cv" / "version_0"
    assert (directory / "fold_0" / RESULT_FILE).is_file() and not (directory / "fold_1" / RESULT_FILE).exists()
    fold_0 = (directory / "fold_0" / RESULT_FILE).stat().st_mtime_ns

    # a changed config is refused for the unfinished folder, and leaves it as it was
    changed = _cv_command(clips_root, tmp_path / "runs", "--model.lr", "0.01")
    assert changed.returncode == 2 and "another config (model.lr: 0.0003 -> 0.01)" in changed.stderr
    errors = [line for line in changed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--new" in errors[0] and "Traceback" not in changed.stderr

    again = _cv_command(clips_root, tmp_path / "runs")
    assert again.returncode == 0, again.stderr[-2000:]
    assert not (tmp_path / "runs" / "cv" / "version_1").exists()
    table = json.loads((directory / "cv_summary.json").read_text())
    assert table["kept"] == [0] and table["resumed"] == [1]
    assert (directory / "fold_0" / RESULT_FILE).stat().st_mtime_ns == fold_0  # not retrained
    assert len(list((directory / "fold_1").glob("lightning_logs/version_*"))) == 1  # resumed in its run folder

    reference = _cv_command(clips_root, tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr[-2000:]
    expected = json.loads((tmp_path / "reference" / "cv" / "version_0" / "cv_summary.json").read_text())
    assert table["metrics"] == expected["metrics"] and table["best_epoch"] == expected["best_epoch"]

    # a finished cv folder is not continued: the same command starts version_1
    assert RunFolder.open(tmp_path / "runs" / "cv", {}, new=False,
                          is_finished=lambda d: (d / "cv_summary.json").is_file()).directory.name == "version_1"


def test_nested_cv_scores_each_fold_once_with_choices_made_on_an_inner_fold(clips_root, tmp_path):
    # two processes (gloo), as a multi-GPU user runs it: every rank tests the checkpoint rank 0's fit chose
    from datamodules.dvd import write_manifest

    rows = [{"video": f"clips/{p.name}", "label": int(p.name.startswith("violent"))}
            for p in sorted((clips_root / "clips").glob("*.mp4"))]
    write_manifest(tmp_path / "nofolds.csv", rows)
    runs = tmp_path / "runs"
    result = run_app("cv", "--config", "demo.yaml", "--config", "presets/tiny.yaml", *data_args(clips_root),
                     "--data.manifest", str(tmp_path / "nofolds.csv"), "--data.num_folds", "4", "--nested",
                     "--folds", "0", "--trainer.max_epochs", "2", "--trainer.devices", "2",
                     "--trainer.default_root_dir", str(runs), *QUIET)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "protocol: nested" in result.stdout
    directory = runs / "cv" / "version_0"
    table = json.loads((directory / "cv_summary.json").read_text())
    assert list(table["metrics"]) == ["test/frame_macro_f1", "test/f1", "inner val/f1"]
    fit = json.loads((directory / "fold_0" / RESULT_FILE).read_text())["summary"]
    test = json.loads((directory / "fold_0" / "test_result.json").read_text())["summary"]
    assert table["chosen"]["0"] == {"inner_fold": 1, "threshold": fit["val/frame_best_threshold"],
                                    "ckpt_path": fit["ckpt_path"]}
    assert table["metrics"]["test/frame_macro_f1"]["folds"]["0"] == pytest.approx(test["test/frame_macro_f1"])
    assert table["metrics"]["inner val/f1"]["folds"]["0"] == pytest.approx(fit["val/f1"])
    runs_of_fold = sorted((directory / "fold_0" / "lightning_logs").glob("version_*"))
    assert len(runs_of_fold) == 2  # the fit, then the test
    fit_folds, test_folds = (json.loads((r / "folds.json").read_text()) for r in runs_of_fold)
    assert (fit_folds["fold"], fit_folds["test_fold"]) == (1, 0) == (test_folds["fold"], test_folds["test_fold"])
    import yaml

    tested = yaml.safe_load((runs_of_fold[1] / "config.yaml").read_text())
    assert tested["model"]["threshold"] == pytest.approx(fit["val/frame_best_threshold"])  # the inner fold's choice
    assert "protocol: nested" in (directory / "cv_table.md").read_text()
