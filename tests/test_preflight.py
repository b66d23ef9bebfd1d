import shutil
from collections import namedtuple

import pytest
from torch import nn

from lightning_app.errors import ConfigError
from lightning_app.preflight import check_free_space, check_run_folder, check_writable, checkpoint_bytes, existing_parent

Usage = namedtuple("Usage", "total used free")


def test_a_folder_that_cannot_be_created_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=rf"--trainer.default_root_dir {blocker}/runs: cannot write there"):
        check_writable(blocker / "runs", "--trainer.default_root_dir")
    assert check_writable(tmp_path / "new" / "runs", "k").is_dir()
    assert not list((tmp_path / "new" / "runs").iterdir())  # the probe file is gone


def test_too_little_free_space_is_reported_before_work_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10 << 30, 10 << 30, 5 << 20))
    with pytest.raises(ConfigError, match=r"5 MiB free on its disk, a run .* needs about \d+ MiB"):
        check_run_folder(tmp_path / "runs", nn.Linear(10, 10), checkpoints=2)
    assert check_free_space(tmp_path, 1 << 20, "k", "x") == 5 << 20


def test_checkpoint_size_counts_weights_and_optimiser_moments():
    layer = nn.Linear(100, 100)  # 10100 float32 parameters
    assert checkpoint_bytes(layer) == 3 * 10100 * 4 + (1 << 20)
    layer.requires_grad_(False)
    assert checkpoint_bytes(layer) == 1 << 20


def test_existing_parent(tmp_path):
    assert existing_parent(tmp_path / "x" / "y") == tmp_path


def test_cache_size_estimate_and_check(tmp_path, monkeypatch):
    from lightning_app.preflight import cache_bytes, check_cache_folder

    dims, counts = {"video": 768, "image": 512, "text": 512}, {"video": 16, "image": 16, "text": 4}
    assert cache_bytes(10, dims, counts) == 10 * (4 * (16 * 768 + 16 * 512 + 4 * 512) + 16)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10 << 30, 10 << 30, 100 << 20))
    check_cache_folder(tmp_path / "cache", 100, dims, counts)  # 9 MB of features fit in 100 MiB
    with pytest.raises(ConfigError, match=r"--data.cache_dir .*100 MiB free on its disk, the features of 10000 window"):
        check_cache_folder(tmp_path / "cache", 10_000, dims, counts)


def test_extract_stops_before_encoding_when_the_cache_disk_is_full(clips_root, tmp_path, monkeypatch):
    from lightning_app import extract
    from tests.conftest import TINY_ENCODERS, data_args

    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10 << 30, 10 << 30, 1 << 20))
    ran = []
    monkeypatch.setattr(extract.FeatureExtractionModule, "predict_step", lambda *a, **k: ran.append(1))
    with pytest.raises(ConfigError, match="--data.cache_dir .*1 MiB free on its disk"):
        extract.run_extract(["--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root), "--data.cache_dir",
                             str(tmp_path / "cache"), "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"])
    assert not ran
