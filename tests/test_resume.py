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
