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
