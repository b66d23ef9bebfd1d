"""The shipped recipes learn: dvd.yaml's model settings, callbacks and regularisers, run as users
run them (tiny encoders, the demo's clips), keep a checkpoint that separates the classes."""

import csv
import json

import pytest

from datamodules.synthetic_videos import write_synthetic_dataset
from tests.conftest import run_app


@pytest.mark.slow
def test_dvd_recipe_keeps_a_checkpoint_that_learned(tmp_path):
    root = tmp_path / "demo"
    write_synthetic_dataset(root, num_clips=40, size=64, fps=24, num_folds=5, seed=0)  # the demo's clips
    common = ["--config", "dvd.yaml", "--config", "presets/tiny.yaml", "--data.root", str(root),
              "--data.cache_dir", str(tmp_path / "cache"), "--trainer.accelerator", "cpu",
              "--trainer.default_root_dir", str(tmp_path / "runs"), "--trainer.enable_progress_bar", "false"]
    result = run_app("extract", *common, "--data.num_workers", "2", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    result = run_app("fit", *common, "--data.num_workers", "0", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    run = next((tmp_path / "runs").rglob("summary.json")).parent  # the fit's run folder
    summary = json.loads((run / "summary.json").read_text())
    assert summary["monitor"] == "val/loss"  # a score that moves smoothly chooses the checkpoint
    assert summary["val/f1"] >= 0.9 and summary["val/auroc"] >= 0.9, summary
    with (run / "metrics.csv").open() as handle:
        epochs = {int(row["epoch"]) for row in csv.DictReader(handle) if row.get("val/f1")}
    assert summary["best_epoch"] > 0 and len(epochs) > 10  # not the epoch-0 checkpoint of an early stop
