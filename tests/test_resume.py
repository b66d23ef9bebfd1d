"""A fit killed with SIGKILL resumes with --ckpt_path last, in the same run folder and W&B run."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lightning_app.cli import cli_main
from lightning_app.errors import ConfigError
from lightning_app.resume import find_last_checkpoint, resolve_resume
from tests.conftest import data_args
from tests.wandb_records import read_run

REPO = Path(__file__).resolve().parent.parent
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu"]


def test_last_means_the_newest_last_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="no last"):
        resolve_resume("last", tmp_path)
    for version in (0, 1):
        folder = tmp_path / "lightning_logs" / f"version_{version}" / "checkpoints"
        folder.mkdir(parents=True)
        (folder / "last.ckpt").write_bytes(b"x")
        time.sleep(0.02)
    assert find_last_checkpoint(tmp_path) == tmp_path / "lightning_logs" / "version_1" / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError, match="no such checkpoint"):
        resolve_resume(str(tmp_path / "nope.ckpt"), tmp_path)


@pytest.mark.slow
def test_killed_fit_resumes_where_it_stopped(clips_root, tmp_path):
    args = ["--config", "dvd.yaml", "--config", "presets/tiny.yaml", *data_args(clips_root), *QUIET,
            "--trainer.max_epochs", "12", "--trainer.default_root_dir", str(tmp_path), "--trainer.callbacks.patience", "100"]
    # without the W&B service address an earlier test's wandb.init left in this process's environment:
    # the child must start its own service, as a separate command would
    env = {k: v for k, v in os.environ.items() if "WANDB_SERVICE" not in k}
    env.update(WANDB_MODE="offline", WANDB_SILENT="true")
    # its own process group, so that killing it also kills the W&B service it started, as a crash would
    process = subprocess.Popen([sys.executable, "-m", "lightning_app", "fit", *args], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    last = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    killed_at = None
    while time.monotonic() < deadline and process.poll() is None:
        if last.is_file():
            try:
                epoch = torch.load(last, map_location="cpu", weights_only=True)["epoch"]
            except Exception:  # being written
                epoch = -1
            if epoch >= 1:
                os.killpg(process.pid, signal.SIGKILL)
                killed_at = epoch
                break
        time.sleep(0.05)
    process.wait()
    assert killed_at is not None and killed_at < 11, "the run ended before it could be killed"
    assert not (tmp_path / "lightning_logs" / "version_0" / "summary.json").exists()
    first_id = json.loads((tmp_path / "lightning_logs" / "version_0" / "wandb_run.json").read_text())["id"]

    cli = cli_main(["fit", *args, "--ckpt_path", "last"])
    assert cli.trainer.current_epoch == 12 and Path(cli.trainer.log_dir).name == "version_0"
    assert sorted(p.name for p in (tmp_path / "lightning_logs").iterdir()) == ["version_0"]
    summary = json.loads((tmp_path / "lightning_logs" / "version_0" / "summary.json").read_text())
    assert summary["epochs"] == 12
    with (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").open() as handle:
        epochs = {int(row["epoch"]) for row in csv.DictReader(handle) if row.get("val/f1")}
    assert set(range(killed_at + 1, 12)) <= epochs  # the resumed run logged the epochs after the checkpoint
    wandb_id = json.loads((tmp_path / "lightning_logs" / "version_0" / "wandb_run.json").read_text())["id"]
    assert wandb_id == first_id
    # the killed process may not have flushed its W&B file; the resumed one continues its run id
    runs = [read_run(p) for p in tmp_path.rglob("offline-run-*/run-*.wandb")]
    assert {r["id"] for r in runs if r["id"]} == {wandb_id}

    # and it ends where a run that was never killed ends: same best checkpoint, same numbers
    straight_root = tmp_path.parent / f"{tmp_path.name}-straight"
    cli_main(["fit", *args[:-4], "--trainer.default_root_dir", str(straight_root), "--trainer.callbacks.patience", "100"])
    straight = json.loads((straight_root / "lightning_logs" / "version_0" / "summary.json").read_text())
    metrics = [key for key in straight if key.startswith("val/")]
    assert metrics and {k: summary[k] for k in metrics} == {k: straight[k] for k in metrics}
    assert summary["best_epoch"] == straight["best_epoch"] and summary["last_epoch"] == straight["last_epoch"]


def _epoch_rows(run_folder: Path) -> dict[int, dict[str, str]]:
    """Per-epoch logged values (train and validation) from a run's metrics.csv."""
    rows: dict[int, dict[str, str]] = {}
    with (run_folder / "metrics.csv").open() as handle:
        for row in csv.DictReader(handle):
            values = {k: v for k, v in row.items() if v and k not in ("step", "epoch") and not k.endswith("_step")}
            rows.setdefault(int(row["epoch"]), {}).update(values)
    return rows


def test_resumed_fit_equals_an_uninterrupted_one(clips_root, tmp_path):
    """Stopped after epoch 2 and resumed from last.ckpt, a fit ends with the same weights and
    logs the same per-epoch numbers as one that ran straight through: shuffling, augmentation
    noise, modality dropout and mixup all draw from the restored generators."""
    from tests.conftest import TINY_ENCODERS

    regularised = ["--model.noise_std", "0.1", "--model.feature_dropout", "0.1", "--model.temporal_mask", "0.1",
                   "--model.modality_dropout", "0.2", "--model.mixup_alpha", "0.4"]

    def fit(root: Path, epochs: int, *extra: str):
        return cli_main(["fit", "--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root, batch_size=3), *QUIET,
                         *regularised, "--trainer.default_root_dir", str(root), "--trainer.max_epochs", str(epochs), *extra])

    fit(tmp_path / "straight", 4)
    fit(tmp_path / "stopped", 2)
    fit(tmp_path / "stopped", 4, "--ckpt_path", "last")

    straight, resumed = (tmp_path / name / "lightning_logs" / "version_0" for name in ("straight", "stopped"))
    weights = [torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True) for folder in (straight, resumed)]
    assert weights[0]["epoch"] == weights[1]["epoch"] == 3
    for name, value in weights[0]["state_dict"].items():
        assert torch.equal(value, weights[1]["state_dict"][name]), name
    expected, got = _epoch_rows(straight), _epoch_rows(resumed)
    for epoch in (0, 1, 2, 3):  # the epochs before the stop are still in the resumed run's metrics.csv
        assert expected[epoch] and expected[epoch] == got[epoch], (epoch, expected[epoch], got[epoch])
