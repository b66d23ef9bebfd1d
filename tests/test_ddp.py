"""DDP on CPU (gloo, 2 processes), through the command line as users run it: epoch metrics
equal those computed in one process.

Which paths each test covers: ``fit`` under ``ddp`` (with the closing validation under DDP);
``validate`` under ``ddp_spawn`` (``test`` and ``predict`` run the same evaluation loop, sampler
and metric gathering); ``cv`` under ``ddp`` (the launcher re-runs the command for rank 1);
``fit`` with the ddp preset under ``ddp_spawn``. ``extract`` under ``ddp_spawn`` is in
``test_extract.py``."""

import json
import re
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest

from datamodules.dvd import write_manifest
from datamodules.synthetic_videos import render_clip, write_mp4
from lightning_app.cli import cli_main
from tests.conftest import TINY_ENCODERS, run_app

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu"]


@pytest.fixture(scope="module")
def uneven_root(tmp_path_factory):
    """Validation fold: 72 + 100 frames = 2 + 3 windows, an odd count that two ranks cannot split evenly."""
    root = tmp_path_factory.mktemp("uneven")
    rng = np.random.default_rng(3)
    rows = []
    for index, (frames, fold, label) in enumerate([(72, 0, 1), (100, 0, 0), (72, 1, 1), (72, 1, 0)]):
        name = f"clip{index}.mp4"
        write_mp4(root / name, render_clip(bool(label), frames, 32, rng), fps=24)
        rows.append({"video": name, "label": label, "fold": fold})
    write_manifest(root / "manifest.csv", rows)
    return root


def _data(root):
    return ["--data", "datamodules.dvd.DVDDataModule", "--data.root", str(root), "--data.frame_size", "32",
            "--data.num_workers", "0", "--data.batch_size", "2"]


def _summary(directory: Path) -> dict:
    return json.loads(next(directory.rglob("summary.json")).read_text())


# What users run: a shipped config with its W&B logger (offline here), the default progress bar
# and callbacks, through ``python -m lightning_app`` (two CPU processes over gloo).
SHIPPED = ["--config", "dvd.yaml", "--config", "presets/tiny.yaml", "--trainer.accelerator", "cpu"]
METRICS = ["val/f1", "val/acc", "val/auroc", "val/frame_f1", "val/loss"]


def _validate_in_one_process(root, ckpt, tmp_path) -> dict:
    cli_main(["validate", *SHIPPED, *_data(root), *QUIET, "--trainer.logger", "false",
              "--trainer.default_root_dir", str(tmp_path / "one"), "--ckpt_path", ckpt])
    return _summary(tmp_path / "one")


def _ok(result) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "litlogger" not in result.stdout + result.stderr


@pytest.mark.slow
def test_fit_with_ddp_through_the_command_line(uneven_root, tmp_path):
    """``fit`` under ``ddp`` (Lightning re-runs the command for rank 1), whose closing validation of
    the best checkpoint also runs under DDP and gives the single-process metrics. The rank-1 bar is
    disabled, and the W&B logger runs on rank 0 only: both hung or crashed this command before."""
    _ok(run_app("fit", *SHIPPED, *_data(uneven_root), "--trainer.devices", "2", "--trainer.strategy", "ddp",
                "--trainer.max_epochs", "1", "--trainer.default_root_dir", str(tmp_path / "fit"), timeout=300))
    two = _summary(tmp_path / "fit")
    assert two["stage"] == "fit" and len(list((tmp_path / "fit" / "wandb").glob("offline-run-*"))) == 1
    one = _validate_in_one_process(uneven_root, two["ckpt_path"], tmp_path)
    for key in METRICS:
        assert two[key] == pytest.approx(one[key], abs=1e-6), key


@pytest.mark.slow
def test_validate_with_ddp_spawn_through_the_command_line(uneven_root, tmp_path):
    """``validate`` under ``ddp_spawn``: each rank reads one contiguous run of windows, and the
    gathered metrics equal those computed in one process."""
    fit = cli_main(["fit", *SHIPPED, *_data(uneven_root), *QUIET, "--trainer.logger", "false", "--trainer.max_epochs", "1",
                    "--trainer.default_root_dir", str(tmp_path / "fit")])
    ckpt = fit.trainer.checkpoint_callback.best_model_path
    _ok(run_app("validate", *SHIPPED, *_data(uneven_root), "--trainer.default_root_dir", str(tmp_path / "two"),
                "--ckpt_path", ckpt, "--trainer.strategy", "ddp_spawn", "--trainer.devices", "2",
                "--trainer.callbacks+=tests.test_ddp.RecordValWindows", "--trainer.callbacks.folder", str(tmp_path),
                timeout=300))
    ranks = [json.loads((tmp_path / f"val_rank{r}.json").read_text()) for r in range(2)]
    assert all(rank["sampler"] == "ContiguousRunSampler" for rank in ranks)  # Lightning kept it
    # 5 validation windows: rank 0 reads the first 3 in a run, rank 1 the last 2 and a pad
    assert sorted(ranks[0]["indices"]) == [0, 1, 2] and sorted(set(ranks[1]["indices"])) == [3, 4]
    one, two = _validate_in_one_process(uneven_root, ckpt, tmp_path), _summary(tmp_path / "two")
    assert all(key in one for key in METRICS)
    for key in METRICS:
        assert two[key] == pytest.approx(one[key], abs=1e-6), key


@pytest.mark.slow
def test_cv_with_ddp_through_the_command_line(uneven_root, tmp_path):
    """``cv`` under ``ddp``: Lightning's launcher re-runs the whole command for rank 1, which must
    run the same folds in rank 0's cv folder and leave the table to rank 0."""
    result = run_app("cv", *SHIPPED, *_data(uneven_root), "--data.num_folds", "2", "--trainer.devices", "2",
                     "--trainer.strategy", "ddp", "--trainer.max_epochs", "1", "--trainer.default_root_dir", str(tmp_path),
                     timeout=300)
    _ok(result)
    assert [p.name for p in (tmp_path / "cv").iterdir()] == ["version_0"]
    table = json.loads((tmp_path / "cv" / "version_0" / "cv_summary.json").read_text())
    assert not table["failed"] and all(v is not None for v in table["metrics"]["val/f1"]["folds"].values())
    assert result.stdout.count("cross-validation") == 1


@pytest.mark.slow
def test_ddp_preset_with_mixed_precision_and_accumulation(uneven_root, tmp_path):
    """The ddp preset's settings on two CPU processes under ``ddp_spawn``, as users run them: bf16
    autocast, gradient accumulation."""
    _ok(run_app("fit", *SHIPPED, "--config", "presets/ddp.yaml", *_data(uneven_root), "--trainer.accelerator", "cpu",
                "--trainer.strategy", "ddp_spawn", "--trainer.devices", "2", "--trainer.sync_batchnorm", "false",
                "--trainer.accumulate_grad_batches", "2", "--trainer.max_epochs", "2",
                "--trainer.default_root_dir", str(tmp_path), timeout=300))
    config = (next(tmp_path.rglob("config.yaml"))).read_text()
    assert "precision: bf16-mixed" in config and "accumulate_grad_batches: 2" in config
    summary = _summary(tmp_path)
    assert summary["epochs"] == 2 and all(np.isfinite(summary[k]) for k in ("val/f1", "val/loss", "val/auroc"))


class RecordTrainWindows(pl.Callback):
    """Writes, per rank, the sampler class and the (video, start) of every training window it saw."""

    def __init__(self, folder: str):
        self.folder = folder
        self.seen: list = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen += list(zip(batch["video_index"].tolist(), batch["start"].tolist()))

    def on_train_epoch_end(self, trainer, pl_module):
        record = {"sampler": type(trainer.train_dataloader.sampler).__name__, "seen": self.seen}
        Path(self.folder, f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


class RecordValWindows(pl.Callback):
    """Writes, per rank, the validation sampler class and the dataset indices it yielded."""

    def __init__(self, folder: str):
        self.folder = folder

    def on_validation_epoch_end(self, trainer, pl_module):
        sampler = trainer.val_dataloaders.sampler
        record = {"sampler": type(sampler).__name__, "indices": list(sampler)}
        Path(self.folder, f"val_rank{trainer.global_rank}.json").write_text(json.dumps(record))


@pytest.mark.slow
def test_ddp_by_video_order_gives_each_rank_whole_videos(uneven_root, tmp_path):
    cli_main(["fit", "--config", "demo.yaml", *TINY_ENCODERS, *_data(uneven_root), *QUIET,
              "--data.window_order", "by_video", "--data.use_cache", "never",
              "--trainer.strategy", "ddp_spawn", "--trainer.devices", "2", "--trainer.max_epochs", "1",
              "--trainer.default_root_dir", str(tmp_path),
              "--trainer.callbacks+=tests.test_ddp.RecordTrainWindows", "--trainer.callbacks.folder", str(tmp_path)])
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert all(rank["sampler"] == "VideoOrderSampler" for rank in ranks)  # Lightning kept it
    seen = [[tuple(w) for w in rank["seen"]] for rank in ranks]
    assert len(seen[0]) == len(seen[1]) > 0
    videos = [{video for video, _ in windows} for windows in seen]
    assert not videos[0] & videos[1]  # whole videos per rank
    assert len(set(seen[0]) | set(seen[1])) == 4  # the two training clips' 2 + 2 windows, all seen


@pytest.mark.slow
def test_extract_with_ddp_through_the_command_line(clips_root, tmp_path):
    """``extract`` on 2 CPU devices with the default strategy (``ddp``: Lightning re-runs the
    command for rank 1). Rank 0 reports only once rank 1 has written its videos: the cache is
    complete and every video counts as extracted by this job."""
    result = run_app("extract", *SHIPPED, *_data(clips_root), "--trainer.devices", "2",
                     "--data.cache_dir", str(tmp_path / "cache"), "--trainer.default_root_dir", str(tmp_path), timeout=300)
    _ok(result)
    assert re.search(r"│ extracted\s+│\s+8 │", result.stdout) and re.search(r"│ complete\s+│\s+True │", result.stdout)
    assert len(list((tmp_path / "cache").glob("*/videos/*.safetensors"))) == 8
