"""The shipped recipes learn: dvd.yaml's model settings, callbacks and regularisers, run as users
run them (tiny encoders, the demo's clips), keep a checkpoint that separates the classes."""

import csv
import json

import pytest

from datamodules.synthetic_videos import write_synthetic_dataset
from tests.conftest import run_app
from tests.synthetic_affwild2 import write_synthetic_affwild2


def _extract_then_fit(config: str, root, tmp_path):
    """A shipped config with the tiny encoders, as users run it: extract the feature cache, then
    fit from it; returns the fit's run folder."""
    common = ["--config", config, "--config", "presets/tiny.yaml", "--data.root", str(root),
              "--data.cache_dir", str(tmp_path / "cache"), "--trainer.accelerator", "cpu",
              "--trainer.default_root_dir", str(tmp_path / "runs"), "--trainer.enable_progress_bar", "false"]
    for command, workers in (("extract", "2"), ("fit", "0")):
        result = run_app(command, *common, "--data.num_workers", workers, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
    return next((tmp_path / "runs").rglob("summary.json")).parent


@pytest.mark.slow
def test_dvd_recipe_keeps_a_checkpoint_that_learned(tmp_path):
    root = tmp_path / "demo"
    write_synthetic_dataset(root, num_clips=40, size=64, fps=24, num_folds=5, seed=0)  # the demo's clips
    run = _extract_then_fit("dvd.yaml", root, tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["monitor"] == "val/loss"  # a score that moves smoothly chooses the checkpoint
    assert summary["val/f1"] >= 0.9 and summary["val/auroc"] >= 0.9, summary
    with (run / "metrics.csv").open() as handle:
        epochs = {int(row["epoch"]) for row in csv.DictReader(handle) if row.get("val/f1")}
    assert summary["best_epoch"] > 0 and len(epochs) > 10  # not the epoch-0 checkpoint of an early stop


@pytest.mark.slow
def test_affwild2_recipe_reaches_a_clearly_positive_frame_ccc(tmp_path):
    """affwild2.yaml's recipe on a synthetic Aff-Wild2 layout whose valence (colour) and arousal
    (speed) change slowly enough for 64-frame windows to follow them."""
    root = write_synthetic_affwild2(tmp_path / "affwild2", num_videos=24, min_seconds=8, max_seconds=10, seed=0,
                                    periods=(300, 600))
    summary = json.loads((_extract_then_fit("affwild2.yaml", root, tmp_path) / "summary.json").read_text())
    assert summary["monitor"] == "val/frame_ccc" and summary["best_epoch"] > 0
    assert summary["val/frame_ccc"] >= 0.15 and summary["val/frame_ccc_arousal"] >= 0.15, summary
