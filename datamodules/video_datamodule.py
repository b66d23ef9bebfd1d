"""LightningDataModules over a folder of videos listed in a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch.utils.data import DataLoader

from datamodules.manifest import ManifestRow, read_manifest
from datamodules.synthetic_videos import MANIFEST_NAME, write_synthetic_dataset
from datamodules.video_io import probe_video
from datamodules.window_dataset import WindowDataset, WindowItem
from datamodules.windows import window_indices, window_starts
from lightning_app.errors import DataError


class VideoWindowDataModule(pl.LightningDataModule):
    """Sliding windows over the videos of a manifest, split by video into folds.

    Args:
        root: the dataset folder (``--data.root``).
        manifest: manifest CSV, relative to ``root`` (see ``datamodules/manifest.py``).
        fold: the fold held out for validation (``--data.fold``); training uses the others.
        window / stride: window length and step, in frames.
        video_frames / image_frames / text_frames: frames sampled uniformly per window for
            the video, image and caption streams.
        frame_size: frames are resized once (short side, centre crop) to this size after
            decoding; each encoder then resizes to its own input size. None keeps the native size.
        batch_size / num_workers: DataLoader settings.

    Windows take the label of their video. ``test`` uses the videos whose ``split`` column
    says ``test``, or the validation fold when there are none; ``predict`` uses the
    validation fold.
    """

    def __init__(
        self,
        root: str,
        manifest: str = MANIFEST_NAME,
        fold: int = 0,
        window: int = 64,
        stride: int = 32,
        video_frames: int = 16,
        image_frames: int = 16,
        text_frames: int = 4,
        frame_size: Optional[int] = 224,
        batch_size: int = 8,
        num_workers: int = 2,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.root = Path(root)
        self.manifest = manifest
        self.fold = fold
        self.window, self.stride = window, stride
        self.counts = {"video": video_frames, "image": image_frames, "text": text_frames}
        self.frame_size = frame_size
        self.batch_size, self.num_workers = batch_size, num_workers
        self.datasets: dict[str, WindowDataset] = {}

    # -- splits ---------------------------------------------------------------------
    def _rows(self) -> list[ManifestRow]:
        if not self.root.is_dir():
            raise DataError(f"data root not found: {self.root} (set --data.root to the dataset folder)")
        rows = read_manifest(self.root / self.manifest, self.root)
        folds = sorted({row.fold for row in rows if row.split != "test"})
        if self.fold not in folds:
            raise DataError(f"--data.fold {self.fold} is not in manifest {self.root / self.manifest}; its folds are {folds}")
        return rows

    def _windows(self, rows: list[ManifestRow]) -> list[WindowItem]:
        items = []
        for row in rows:
            num_frames = probe_video(row.video).num_frames
            video_id = str(row.video.relative_to(self.root)) if row.video.is_relative_to(self.root) else str(row.video)
            for start in window_starts(num_frames, self.window, self.stride):
                items.append(
                    WindowItem(
                        video_id=video_id,
                        path=row.video,
                        start=start,
                        end=min(start + self.window, num_frames),
                        label=row.label,
                        indices=window_indices(start, self.window, self.counts, num_frames),
                    )
                )
        return items

    def setup(self, stage: Optional[str] = None) -> None:
        rows = self._rows()
        test_rows = [r for r in rows if r.split == "test"]
        dev_rows = [r for r in rows if r.split != "test"]
        splits = {
            "train": [r for r in dev_rows if r.fold != self.fold],
            "val": [r for r in dev_rows if r.fold == self.fold],
        }
        if test_rows:
            splits["test"] = test_rows
        else:
            splits["test"] = splits["val"]
            if stage == "test":
                rank_zero_warn("the manifest marks no test videos (split=test): testing on the validation fold")
        needed = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("val",)}
        for name in needed.get(stage, ("train", "val", "test")):
            if name in self.datasets:
                continue
            if not splits[name]:
                raise DataError(f"the {name} split is empty: manifest {self.root / self.manifest}, --data.fold {self.fold}")
            self.datasets[name] = WindowDataset(self._windows(splits[name]), self.frame_size)
            rank_zero_info(f"{name}: {len(splits[name])} videos, {len(self.datasets[name])} windows")

    # -- loaders --------------------------------------------------------------------
    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.datasets[name],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)


class SyntheticVideoDataModule(VideoWindowDataModule):
    """The demo: writes the synthetic dataset (``datamodules/synthetic_videos.py``) into
    ``root`` on first use, then behaves like ``VideoWindowDataModule``.

    Args (besides the parent's):
        num_clips: number of clips, half of them violent.
        clip_size: frame width and height of the written clips, in pixels.
        fps: frame rate of the written clips.
        num_folds: folds written to the manifest.
        data_seed: seed of the generator (content, lengths and fold assignment).
    """

    def __init__(
        self,
        root: str = "data/demo",
        num_clips: int = 40,
        clip_size: int = 64,
        fps: int = 24,
        num_folds: int = 5,
        data_seed: int = 0,
        **kwargs,
    ):
        super().__init__(root=root, **kwargs)
        self.num_clips, self.clip_size, self.fps = num_clips, clip_size, fps
        self.num_folds, self.data_seed = num_folds, data_seed

    def prepare_data(self) -> None:
        if (self.root / self.manifest).is_file():
            return
        rank_zero_info(f"writing {self.num_clips} synthetic clips to {self.root} ...")
        write_synthetic_dataset(
            self.root, self.num_clips, self.clip_size, self.fps, num_folds=self.num_folds, seed=self.data_seed,
            manifest_name=self.manifest,
        )
