import shutil

import pytest

from datamodules.video_datamodule import SyntheticVideoDataModule, VideoWindowDataModule
from lightning_app.errors import DataError


def test_splits_by_video_never_by_window(clips_root):
    dm = VideoWindowDataModule(str(clips_root), fold=1, frame_size=32, num_workers=0)
    dm.setup("fit")
    train = {w.video_id for w in dm.datasets["train"].windows}
    val = {w.video_id for w in dm.datasets["val"].windows}
    assert train and val and not train & val and len(train | val) == 8
    assert len(dm.datasets["train"]) > len(train)  # several windows per video
    batch = next(iter(dm.train_dataloader()))
    assert batch["video"].shape[1:] == (16, 32, 32, 3) and batch["text"].shape[1:] == (4, 32, 32, 3)


def test_clear_errors_for_bad_data(tmp_path, clips_root):
    with pytest.raises(DataError, match="data root not found"):
        VideoWindowDataModule(str(tmp_path / "nowhere")).setup("fit")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no manifest"):
        VideoWindowDataModule(str(tmp_path / "empty")).setup("fit")
    with pytest.raises(DataError, match=r"--data.fold 7 is not in manifest"):
        VideoWindowDataModule(str(clips_root), fold=7).setup("fit")
    broken = tmp_path / "broken"
    shutil.copytree(clips_root, broken)
    victim = sorted((broken / "clips").glob("*.mp4"))[0]
    victim.write_bytes(b"garbage" * 10)
    with pytest.raises(DataError, match=f"cannot read video {victim}"):
        VideoWindowDataModule(str(broken), num_workers=0).setup("fit")


def test_synthetic_datamodule_writes_its_data_once(tmp_path):
    dm = SyntheticVideoDataModule(root=str(tmp_path / "demo"), num_clips=4, clip_size=32, fps=12, num_folds=2, frame_size=32, num_workers=0)
    dm.prepare_data()
    manifest = tmp_path / "demo" / "manifest.csv"
    stamp = manifest.stat().st_mtime_ns
    dm.prepare_data()
    assert manifest.stat().st_mtime_ns == stamp
    dm.setup("validate")
    assert len(dm.datasets["val"]) == 2
