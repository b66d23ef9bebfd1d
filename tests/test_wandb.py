"""W&B in offline mode: the run holds the resolved config and the summary's numbers; cv folds are separate runs."""

import json
from pathlib import Path

from lightning_app.cli import cli_main
from lightning_app.cv import cv_main
from lightning_app.wandb_logger import WandbRunLogger
from tests.conftest import data_args
from tests.synthetic_affwild2 import write_synthetic_affwild2
from tests.wandb_records import read_run

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu"]


def _runs(root: Path) -> list[dict]:
    return [read_run(p) for p in sorted(root.rglob("offline-run-*/run-*.wandb"))]


def test_offline_run_has_the_config_and_the_summary(clips_root, tmp_path):
    cli = cli_main(["fit", "--config", "dvd.yaml", "--config", "presets/tiny.yaml", *data_args(clips_root),
                    "--trainer.max_epochs", "2", "--trainer.default_root_dir", str(tmp_path), *QUIET])
    assert any(isinstance(logger, WandbRunLogger) for logger in cli.trainer.loggers)
    summary = json.loads(next(tmp_path.rglob("summary.json")).read_text())
    assert Path(next(tmp_path.rglob("summary.json"))).parent == Path(cli.trainer.log_dir)  # the CSV run folder
    (run,) = _runs(tmp_path)
    assert run["config"]["model"]["hidden_dim"] == 64 and run["config"]["data"]["init_args"]["root"] == str(clips_root)
    assert run["summary"]["val/f1"] == summary["val/f1"] and run["summary"]["config_hash"] == summary["config_hash"]
    assert any("val/loss" in row for row in run["history"])


def test_cv_folds_are_separate_runs_in_one_group(tmp_path):
    root = write_synthetic_affwild2(tmp_path / "affwild2", num_videos=8, seed=0)
    runs_dir = tmp_path / "runs"
    code = cv_main(["--config", "affwild2.yaml", "--config", "presets/tiny.yaml", "--data.root", str(root),
                    "--data.num_folds", "2", "--data.num_workers", "0", "--trainer.max_epochs", "1",
                    "--trainer.default_root_dir", str(runs_dir), *QUIET])
    assert code == 0
    runs = _runs(runs_dir)
    folds = [r for r in runs if "val/ccc" in r["summary"] and "data" in r["config"]]
    tables = [r for r in runs if r not in folds]
    assert len(folds) == 2 and len({r["id"] for r in folds}) == 2
    assert {r["config"]["data"]["init_args"]["fold"] for r in folds} == {0, 1}
    assert len({r["group"] for r in runs}) == 1 and runs[0]["group"].startswith("cv-affwild2-")
    assert len(tables) == 1 and "val/ccc/mean" in tables[0]["summary"]
