import json
import shutil

import pytest
import torch

from datamodules.batch import stream_frames
from datamodules.demo import SyntheticVideoDataModule
from datamodules.dvd import DVDDataModule, write_manifest
from datamodules.eval_order import ContiguousRunSampler
from datamodules.window_datamodule import EVAL_OPEN_READERS
from lightning_app.errors import ConfigError, DataError


def test_splits_by_video_never_by_window(clips_root):
    dm = DVDDataModule(str(clips_root), fold=1, frame_size=32, num_workers=0)
    dm.setup("fit")
    train = {w.video_id for w in dm.datasets["train"].windows}
    val = {w.video_id for w in dm.datasets["val"].windows}
    assert train and val and not train & val and len(train | val) == 8
    assert len(dm.datasets["train"]) > len(train)  # several windows per video
    batch = next(iter(dm.train_dataloader()))
    assert batch["frames"].shape == (len(batch["target"]) * 20, 32, 32, 3)  # the streams' 36 frames, 20 of them distinct
    streams = stream_frames(batch)
    assert streams["video"].shape[1:] == (16, 32, 32, 3) and streams["text"].shape[1:] == (4, 32, 32, 3)
    assert batch["target"].shape[1:] == (1,) and batch["frame_target"].shape[1:] == (64, 1)


def test_assigned_folds_are_seeded_stratified_and_cover_every_video(clips_root, tmp_path):
    rows = [{"video": f"clips/{p.name}", "label": int(p.name.startswith("violent"))} for p in sorted((clips_root / "clips").glob("*.mp4"))]
    write_manifest(tmp_path / "nofolds.csv", rows)
    make = lambda seed: DVDDataModule(str(clips_root), manifest=str(tmp_path / "nofolds.csv"), num_folds=4, fold_seed=seed)  # noqa: E731
    folds = make(0).fold_assignment()
    assert sorted(folds) == sorted(r["video"] for r in rows) and set(folds.values()) == {0, 1, 2, 3}
    assert folds == make(0).fold_assignment() and folds != make(5).fold_assignment()
    for fold in range(4):  # one violent and one calm clip per fold
        assert sorted(int(v.split("/")[1].startswith("violent")) for v, f in folds.items() if f == fold) == [0, 1]


def test_a_test_fold_is_held_out_of_training_and_validation(clips_root, tmp_path):
    rows = [{"video": f"clips/{p.name}", "label": int(p.name.startswith("violent"))} for p in sorted((clips_root / "clips").glob("*.mp4"))]
    write_manifest(tmp_path / "nofolds.csv", rows)
    dm = DVDDataModule(str(clips_root), manifest=str(tmp_path / "nofolds.csv"), num_folds=4, fold=1, test_fold=0)
    folds = dm.fold_assignment()
    splits = {name: {r.video_id for r in records} for name, records in dm.split_records().items()}
    assert splits["test"] == {v for v, f in folds.items() if f == 0} and splits["val"] == {v for v, f in folds.items() if f == 1}
    assert splits["train"] == {v for v, f in folds.items() if f in (2, 3)}
    with pytest.raises(ConfigError, match="--data.test_fold 1 needs"):
        DVDDataModule(str(clips_root), fold=1, test_fold=1)
    with pytest.raises(ConfigError, match="--data.test_fold 0 needs --data.split_mode folds"):
        DVDDataModule(str(clips_root), split_mode="official", test_fold=0)
    with pytest.raises(DataError, match="--data.test_fold 9 is not a fold"):
        DVDDataModule(str(clips_root), manifest=str(tmp_path / "nofolds.csv"), num_folds=4, test_fold=9).split_records()


def test_clear_errors_for_bad_data(tmp_path, clips_root):
    with pytest.raises(DataError, match="data root not found"):
        DVDDataModule(str(tmp_path / "nowhere")).setup("fit")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no videos under .* no manifest"):
        DVDDataModule(str(tmp_path / "empty")).setup("fit")
    with pytest.raises(DataError, match=r"--data.fold 7 is not a fold of"):
        DVDDataModule(str(clips_root), fold=7).setup("fit")


def test_unreadable_video_stops_or_is_skipped(tmp_path, clips_root):
    broken = tmp_path / "broken"
    shutil.copytree(clips_root, broken)
    victim = sorted((broken / "clips").glob("*.mp4"))[0]
    victim.write_bytes(b"garbage" * 10)
    with pytest.raises(DataError, match=f"cannot read video {victim}.*on_bad_video skip"):
        DVDDataModule(str(broken), num_workers=0, frame_size=32).setup("fit")
    dm = DVDDataModule(str(broken), num_workers=0, frame_size=32, on_bad_video="skip")
    with pytest.warns(UserWarning, match="skipping clips/"):
        dm.setup("fit")
    assert len(dm.skipped["videos"]) == 1 and victim.name in dm.skipped["videos"][0]
    assert victim.name not in {w.path.name for ds in dm.datasets.values() for w in ds.windows}


def test_folds_file_is_written_to_the_run(clips_root, tmp_path):
    import lightning.pytorch as pl

    dm = DVDDataModule(str(clips_root), fold=0, frame_size=32, num_workers=0)
    trainer = pl.Trainer(default_root_dir=tmp_path, logger=pl.loggers.CSVLogger(tmp_path), accelerator="cpu")
    dm.trainer = trainer
    dm.setup("validate")
    written = json.loads((tmp_path / "lightning_logs" / "version_0" / "folds.json").read_text())
    assert written["folds"] == dm.fold_assignment() and written["split_mode"] == "folds"


def test_synthetic_datamodule_writes_its_data_once(tmp_path):
    dm = SyntheticVideoDataModule(root=str(tmp_path / "demo"), num_clips=4, clip_size=32, fps=12, num_folds=2, frame_size=32, num_workers=0)
    dm.prepare_data()
    manifest = tmp_path / "demo" / "manifest.csv"
    stamp = manifest.stat().st_mtime_ns
    dm.prepare_data()
    assert manifest.stat().st_mtime_ns == stamp
    dm.setup("validate")
    assert len(dm.datasets["val"]) == 2


def test_by_video_order_reads_every_training_window_once_per_epoch(clips_root):
    from datamodules.video_order import VideoOrderSampler

    dm = DVDDataModule(str(clips_root), fold=1, frame_size=16, num_workers=0, batch_size=3, window_order="by_video",
                       use_cache="never")
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert isinstance(loader.sampler, VideoOrderSampler)
    dataset = dm.datasets["train"]
    assert dataset.open_readers == 4 and dm.datasets["val"].open_readers == EVAL_OPEN_READERS
    seen = [(video, start) for batch in loader for video, start in zip(batch["video_index"].tolist(), batch["start"].tolist())]
    assert sorted(seen) == sorted((w.video_index, w.start) for w in dataset.windows)
    with pytest.raises(ConfigError, match="window_order"):
        DVDDataModule(str(clips_root), window_order="sorted")


def test_fit_runs_with_the_by_video_order(clips_root, tmp_path):
    from lightning_app.cli import cli_main
    from tests.conftest import TINY_ENCODERS, data_args

    cli = cli_main(["fit", "--config", "demo.yaml", *TINY_ENCODERS,
                    *data_args(clips_root, window_order="by_video", use_cache="never", num_workers=2),
                    "--trainer.max_epochs", "1", "--trainer.default_root_dir", str(tmp_path),
                    "--trainer.enable_progress_bar", "false"])
    assert cli.trainer.current_epoch == 1 and "val/f1" in cli.trainer.callback_metrics


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_validation_from_videos_gives_each_worker_a_run_of_windows(clips_root, workers):
    """Each worker decodes one run of consecutive windows front to back with readers kept open
    (whichever the training order); the items are the ones decoded window by window."""
    dm = DVDDataModule(str(clips_root), fold=1, frame_size=16, num_workers=workers, batch_size=2, use_cache="never")
    dm.setup("validate")
    loader = dm.val_dataloader()
    dataset = dm.datasets["val"]
    assert isinstance(loader.sampler, ContiguousRunSampler) and not loader.sampler.shuffle
    assert dataset.open_readers == EVAL_OPEN_READERS
    order = list(loader.sampler)
    assert sorted(order) == list(range(len(dataset)))
    if workers <= 1:
        assert order == list(range(len(dataset)))  # the dataset's own order
    batches = [order[i : i + 2] for i in range(0, len(order), 2)]
    runs = [[w for k, batch in enumerate(batches) if k % max(1, workers) == worker for w in batch]
            for worker in range(max(1, workers))]
    assert all(run == list(range(run[0], run[0] + len(run))) for run in runs if run)
    window_by_window = DVDDataModule(str(clips_root), fold=1, frame_size=16, batch_size=2, use_cache="never")
    window_by_window.setup("validate")
    plain = window_by_window.datasets["val"]
    plain.open_readers = 0
    read = [item for batch in loader for item in zip(batch["video_index"].tolist(), batch["start"].tolist(),
                                                     batch["frames"].unflatten(0, (len(batch["start"]), -1)))]
    assert len(read) == len(dataset)
    for video, start, frames in read:
        index = next(i for i, w in enumerate(plain.windows) if (w.video_index, w.start) == (video, start))
        assert torch.equal(frames, plain[index]["frames"])
