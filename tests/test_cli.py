"""End-to-end runs of the command line, in-process, on the session's synthetic clips."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lightning_app.__main__ import main
from lightning_app.cli import cli_main
from tests.conftest import TINY_ENCODERS, data_args

REPO = Path(__file__).resolve().parent.parent


def _summary(root: Path) -> dict:
    paths = sorted(root.rglob("summary.json"))
    assert len(paths) == 1, paths
    return json.loads(paths[0].read_text())


def _common(root_dir: Path) -> list[str]:
    return ["--trainer.default_root_dir", str(root_dir), "--trainer.accelerator", "cpu", "--trainer.devices", "1",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def test_fast_dev_run_with_composed_configs(clips_root, tmp_path):
    cli = cli_main(["fit", "--config", "dvd.yaml", "--config", "presets/tiny.yaml", "--config", "presets/debug.yaml",
                    "--data.root", str(clips_root), "--data.batch_size", "2",
                    "--trainer.default_root_dir", str(tmp_path)])
    assert cli.model.hparams.video_encoder["name"] == "videoprism-tiny"  # the preset won over dvd.yaml
    assert cli.datamodule.spec.frame_size == 32 and cli.datamodule.num_workers == 0
    assert cli.trainer.fast_dev_run and cli.trainer.state.finished
    summary = _summary(tmp_path)
    assert summary["stage"] == "fit" and 0.0 <= summary["val/loss"] and len(summary["config_hash"]) == 12


def test_print_config_shows_the_resolved_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", "demo.yaml", "--data.fold", "3", "--print_config"])
    assert exit_info.value.code in (0, None)
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["video_encoder"]["name"] == "videoprism-tiny"
    assert config["data"]["class_path"].endswith("SyntheticVideoDataModule")
    assert config["data"]["init_args"]["fold"] == 3 and config["data"]["init_args"]["window"] == 64
    assert config["trainer"]["max_epochs"] == 25 and config["model"]["lr"] == pytest.approx(3e-4)


@pytest.fixture(scope="module")
def trained(clips_root, tmp_path_factory):
    root_dir = tmp_path_factory.mktemp("run")
    cli = cli_main(["fit", "--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root), *_common(root_dir),
                    "--trainer.max_epochs", "3"])
    return cli, root_dir


def test_fit_writes_a_summary_of_the_best_checkpoint(trained):
    cli, root_dir = trained
    summary = _summary(root_dir)
    best = cli.trainer.checkpoint_callback
    assert summary["stage"] == "fit" and summary["epochs"] == 3
    assert Path(summary["ckpt_path"]) == Path(best.best_model_path)
    assert summary["val/f1"] == pytest.approx(float(best.best_model_score), abs=1e-6)
    assert set(summary["last_epoch"]) == {"val/acc", "val/auroc", "val/f1", "val/frame_f1", "val/loss", "val/frame_macro_f1",
                                          "val/frame_macro_f1_best", "val/frame_best_threshold"}
    from models.tasks import ViolenceTask, logged_metrics

    assert logged_metrics(ViolenceTask()) == sorted(summary["last_epoch"])  # what a sweep checks its metric against
    assert summary["monitor"] == "val/f1" and 0 <= summary["best_epoch"] < 3
    assert (Path(cli.trainer.log_dir) / "config.yaml").is_file()
    for plot in ("val_confusion_matrix.png", "val_roc.png", "val_precision_recall.png"):
        assert (Path(cli.trainer.log_dir) / plot).is_file(), plot


def test_checkpoint_does_not_hold_encoder_weights(trained):
    import torch

    cli, _ = trained
    checkpoint = torch.load(cli.trainer.checkpoint_callback.best_model_path, weights_only=True, map_location="cpu")
    assert not any(k.startswith("extractor.") for k in checkpoint["state_dict"])
    assert checkpoint["hyper_parameters"]["video_encoder"] == {"name": "videoprism-tiny"}


def test_validate_with_ckpt_path_reproduces_the_fit_metrics(trained, clips_root, tmp_path):
    cli, root_dir = trained
    fit_summary = _summary(root_dir)
    ckpt = fit_summary["ckpt_path"]
    cli_main(["validate", "--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root), *_common(tmp_path),
              "--ckpt_path", ckpt])
    summary = _summary(tmp_path)
    assert summary["stage"] == "validate" and summary["ckpt_path"] == ckpt
    for key in ("val/f1", "val/acc", "val/auroc", "val/loss", "val/frame_f1"):
        assert summary[key] == pytest.approx(fit_summary[key], abs=1e-6), key
    assert summary["config_hash"] == fit_summary["config_hash"]


def test_a_model_setting_typed_with_ckpt_path_wins_over_the_checkpoints(trained, clips_root, tmp_path):
    # Lightning puts the checkpoint's hyperparameters over the parsed config (its issue #20801); what the command
    # line names is put back: validating at threshold 0 calls every window violent
    _, root_dir = trained
    fit_summary = _summary(root_dir)
    cli = cli_main(["validate", "--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root), *_common(tmp_path),
                    "--ckpt_path", fit_summary["ckpt_path"], "--model.threshold", "0.0"])
    summary = _summary(tmp_path)
    assert cli.model.hparams.threshold == 0.0
    violent = summary["val/acc"]  # every window called violent: accuracy is the violent share q, F1 2q / (1 + q)
    assert summary["val/f1"] == pytest.approx(2 * violent / (1 + violent), abs=1e-6)
    assert summary["val/f1"] != pytest.approx(fit_summary["val/f1"], abs=1e-3)  # not the checkpoint's threshold
    assert summary["val/auroc"] == pytest.approx(fit_summary["val/auroc"], abs=1e-6)  # the same weights


def test_test_and_predict_with_ckpt_path(trained, clips_root, tmp_path):
    cli, _ = trained
    ckpt = cli.trainer.checkpoint_callback.best_model_path
    cli_main(["test", "--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root), *_common(tmp_path / "t"),
              "--ckpt_path", ckpt])
    summary = _summary(tmp_path / "t")
    assert summary["stage"] == "test" and {"test/f1", "test/acc", "test/auroc", "test/loss", "test/frame_f1"} <= set(summary)

    out = tmp_path / "p"
    # two workers read the windows in two runs, interleaved; the file is in dataset order
    predict = cli_main(["predict", "--config", "demo.yaml", *TINY_ENCODERS,
                        *data_args(clips_root, num_workers=2, batch_size=2), *_common(out),
                        "--trainer.callbacks+=callbacks.WindowPredictionWriter",
                        "--trainer.callbacks.output_dir", str(out), "--ckpt_path", ckpt])
    with (out / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    windows = predict.datamodule.datasets["val"].windows
    assert list(predict.datamodule.predict_dataloader().sampler) != list(range(len(windows)))
    assert len(rows) == len(windows)
    assert all(0.0 <= float(r["probability"]) <= 1.0 for r in rows)
    assert [(r["video"], int(r["start"])) for r in rows] == [(w.video_id, w.start) for w in windows]


def _run_main(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["lightning_app", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err.strip().splitlines()
    return exit_info.value.code, err[-1] if err else ""


def test_bad_input_gives_one_clear_line(monkeypatch, capsys, clips_root, tmp_path):
    run = ["--trainer.default_root_dir", str(tmp_path / "runs"), "--trainer.max_epochs", "1"]
    code, line = _run_main(monkeypatch, capsys, "fit", "--config", "missing.yaml")
    assert code == 2 and line.startswith("error: --config missing.yaml: no such file")

    code, line = _run_main(monkeypatch, capsys, "fit", "--config", "demo.yaml", "--model.video_encoder", "{name: videoprizm}", *run)
    assert code == 2 and "model.video_encoder.name: unknown video encoder 'videoprizm'" in line

    (tmp_path / "empty").mkdir()
    code, line = _run_main(monkeypatch, capsys, "fit", "--config", "demo.yaml", *TINY_ENCODERS,
                           *data_args(tmp_path / "empty"), *run)
    assert code == 2 and line.startswith(f"error: no videos under {tmp_path / 'empty'}")

    broken = tmp_path / "broken"
    (broken / "clips").mkdir(parents=True)
    (broken / "clips" / "a.mp4").write_text("not a video")
    (broken / "clips" / "b.mp4").write_text("not a video either")
    (broken / "manifest.csv").write_text("video,label,fold\nclips/a.mp4,1,0\nclips/b.mp4,0,1\n")
    code, line = _run_main(monkeypatch, capsys, "fit", "--config", "demo.yaml", *TINY_ENCODERS, *data_args(broken), *run)
    assert code == 2 and re.match(rf"error: cannot read video {broken / 'clips'}/[ab].mp4: .*on_bad_video skip", line)

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code, line = _run_main(monkeypatch, capsys, "fit", "--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root),
                           "--trainer.default_root_dir", str(blocker / "runs"), "--trainer.max_epochs", "1")
    assert code == 2 and line.startswith(f"error: --trainer.default_root_dir {blocker / 'runs'}: cannot write there")


def test_entry_point_prints_one_line_and_exits_2():
    result = subprocess.run([sys.executable, "-m", "lightning_app", "fit", "--config", "nope.yaml"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: --config nope.yaml: no such file")


def test_same_seed_same_config_same_numbers(clips_root, tmp_path):
    summaries = []
    for run in ("a", "b"):
        cli_main(["fit", "--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root), *_common(tmp_path / run),
                  "--trainer.max_epochs", "2"])
        summaries.append(_summary(tmp_path / run))
    first, second = summaries
    metrics = [k for k in first if k.startswith("val/")]
    assert metrics and all(first[k] == second[k] for k in metrics), [(k, first[k], second[k]) for k in metrics]
    assert first["last_epoch"] == second["last_epoch"] and first["config_hash"] == second["config_hash"]
    assert first["seed"] == 0 and first["environment"]["packages"]["torch"]
    assert "git_commit" in first["environment"]


def test_an_error_raised_in_a_dataloader_worker_prints_its_own_message():
    from lightning_app.errors import DataError, user_message

    wrapped = DataError("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
                        '  File "x.py", line 1, in f\nlightning_app.errors.DataError: cannot read video a.mp4: empty\n')
    assert user_message(wrapped) == "cannot read video a.mp4: empty"
    assert user_message(DataError("plain")) == "plain"


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_the_entry_point_lets_idle_threads_sleep_unless_told_otherwise(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    probe = "import os, lightning_app.__main__, sys; print(os.environ['OMP_WAIT_POLICY']); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parent.parent, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == [expected, "False"]  # set before torch (and its OpenMP) loads


def test_help_lists_every_command_quickly_and_each_has_its_own_help(monkeypatch, capsys):
    from lightning_app.__main__ import main

    probe = "import runpy, sys; sys.argv = ['lightning_app', '--help']\ntry:\n    runpy.run_module('lightning_app', run_name='__main__')\n" \
            "except SystemExit as e:\n    print('exit', e.code, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parent.parent,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().endswith("exit 0 False")  # torch is never imported for it
    commands = re.findall(r"^  (\w+)\s{2,}", result.stdout, flags=re.M)
    assert commands == ["fit", "validate", "test", "predict", "cv", "ablate", "extract", "infer", "submit", "sweep"]
    for command in commands:
        monkeypatch.setattr(sys, "argv", ["lightning_app", command, "--help"])
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code in (0, None), command
        assert "--" in capsys.readouterr().out, command
