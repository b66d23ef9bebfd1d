"""End-to-end ``cv`` runs on the tiny preset."""

import csv
import json

import pytest

from datamodules.synthetic_videos import write_synthetic_affwild2
from lightning_app.cv import build_table, cv_main, split_folds_flag
from lightning_app.errors import ConfigError
from tests.conftest import data_args

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
        assert summary["best_epoch"][fold] == fold_summary["best_epoch"]
        folds_file = json.loads(next((directory / f"fold_{fold}").rglob("folds.json")).read_text())
        assert folds_file["fold"] == int(fold)
    with (directory / "cv_table.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["dataset", "metric", "fold 0", "fold 1", "mean", "std"]
    assert [r[1] for r in rows[1:]] == ["val/ccc", "val/frame_ccc", "best epoch"]
    assert "cross-validation" in capsys.readouterr().out


def test_a_failing_fold_is_reported_and_the_others_run(clips_root, tmp_path):
    runs = tmp_path / "runs"
    code = cv_main(["--config", "demo.yaml", "--config", "presets/tiny.yaml", *data_args(clips_root), "--folds", "0,7",
                    "--trainer.max_epochs", "1", "--trainer.default_root_dir", str(runs), *QUIET])
    assert code == 1
    summary = json.loads((runs / "cv" / "version_0" / "cv_summary.json").read_text())
    assert list(summary["failed"]) == ["7"] and "--data.fold 7 is not a fold" in summary["failed"]["7"]
    assert summary["metrics"]["val/f1"]["folds"]["0"] is not None
