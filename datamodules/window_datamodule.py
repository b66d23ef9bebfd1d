"""The shared LightningDataModule: records -> folds -> sliding windows -> DataLoaders. A dataset
layout (``dvd.py``, ``affwild2.py``) subclasses it with ``load_records`` and ``window_target``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
import torch
from jsonargparse.typing import NonNegativeInt, PositiveInt
from torch.utils.data import DataLoader, Dataset

from datamodules.batch import collate_windows
from datamodules.eval_order import ContiguousRunSampler
from datamodules.feature_cache import FeatureCache, feature_dims, key_content, read_index
from datamodules.framing import FramingSetting, resolve_framing
from datamodules.folds import group_folds
from datamodules.labels import FrameTargets
from datamodules.records import VideoRecord
from datamodules.samplers import EpochSeededRandomSampler, run_seed
from datamodules.video_order import VideoOrderSampler
from datamodules.video_io import probe_video
from datamodules.window_dataset import CachedWindowDataset, WindowDataset, WindowItem
from datamodules.windows import WindowSpec
from lightning_app.errors import ConfigError, DataError
from lightning_app.files import atomic_write_text

SplitMode = Literal["folds", "official"]
OnBadVideo = Literal["error", "skip"]
UseCache = Literal["auto", "always", "never"]
WindowOrder = Literal["shuffled", "by_video"]
FOLDS_FILE = "folds.json"
# videos each DataLoader worker keeps open for evaluation: its run of windows crosses from one to the next
EVAL_OPEN_READERS = 2
STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("val",)}


def check_settings(batch_size: int, num_workers: int, cache_num_workers: int, frame_size: Optional[int], fold: int,
                   test_fold: Optional[int], split_mode: str, window_order: str) -> None:
    """Settings that cannot work together or at all, as one ``ConfigError`` naming the key."""
    for key, value, least in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0),
                              ("cache_num_workers", cache_num_workers, 0), ("frame_size", frame_size, 1)):
        if value is not None and value < least:
            raise ConfigError(f"--data.{key} must be at least {least}, got {value}")
    if test_fold is not None and (split_mode == "official" or test_fold == fold):
        raise ConfigError(f"--data.test_fold {test_fold} needs --data.split_mode folds and a --data.fold other "
                          f"than it (got split_mode {split_mode}, fold {fold})")
    if window_order not in ("shuffled", "by_video"):
        raise ConfigError(f"--data.window_order must be shuffled or by_video, got {window_order!r}")


class WindowDataModule(pl.LightningDataModule):
    """Sliding windows over a dataset's videos, split into folds by video.

    Args:
        root: the dataset folder (``--data.root``).
        fold: the fold held out for validation (``--data.fold``); training uses the others.
        test_fold: a second fold held out, as the test split (``--data.test_fold``), out of both training and
            validation: ``cv --nested`` scores each outer fold once this way, the checkpoint (and threshold)
            chosen on ``fold``. None: the dataset's test videos, or the validation fold when it marks none.
        num_folds: folds assigned when the dataset fixes none, by video (records of one group
            together), stratified by label where there is one.
        fold_seed: the seed of that fold assignment.
        split_mode: ``folds`` (cross-validation) or ``official`` (the dataset's own
            train / validation split; ``fold`` is then ignored).
        window: window length, in frames.
        stride: step between window starts, in frames.
        video_frames: frames sampled uniformly per window for the video stream.
        image_frames: frames sampled uniformly per window for the image stream.
        text_frames: frames sampled uniformly per window for the caption stream.
        frame_size: frames are resized once after decoding, to this short side, then into the square view
            each stream's encoder reads (``framing``); each encoder then resizes to its own input size. None
            keeps the native size (and each encoder resizes and crops as its processor does).
        framing: what part of a frame each stream sees (``datamodules/framing.py``): ``encoders`` gives each
            the view its encoder's own processor takes (VideoPrism and the captioners the whole frame, CLIP a
            centre crop); ``crop`` centre-crops for all (the behaviour before this setting, whose feature caches
            keep their key); ``whole`` gives all the whole frame. Part of the feature cache's key.
        batch_size: windows per batch.
        num_workers: DataLoader workers when decoding videos.
        on_bad_video: ``error`` stops at the first video that cannot be used (unreadable,
            labels that do not fit it); ``skip`` leaves it out, counts it and names it in a warning.
        cache_dir: the feature cache folder (``--data.cache_dir``; written by ``extract``).
        use_cache: ``auto`` reads features from the cache when it is complete for the current
            key, ``always`` requires it, ``never`` decodes videos and runs the encoders.
        cache_num_workers: DataLoader workers when reading from the cache. Reading a window is a
            memory copy, so worker processes cost more than they save: 0 by default.
        window_order: the order of training windows read from videos (not from the cache).
            ``shuffled``: every window on its own, in a fresh random order each epoch; each is
            decoded from the keyframe before it. ``by_video``: videos in a fresh random order,
            each video's windows in time order on one DataLoader worker, a batch mixing
            ``batch_size`` videos (``datamodules/video_order.py``): every frame is decoded
            once per epoch, which is faster, at the price of a coarser shuffle. Validation, test
            and predict windows read from videos come in dataset order, each DataLoader worker
            decoding one run of consecutive windows front to back (``datamodules/eval_order.py``).
        encoders: the model's encoder specs, which key the cache (the command line links
            them from ``model.*``; set them yourself when building the datamodule in Python).

    ``test`` uses ``test_fold`` if given, else the videos marked ``test`` by the dataset, or the
    validation fold when none is; ``predict`` uses the validation fold. The fold assignment is written to
    ``folds.json`` in the run's log directory.
    """

    task: str = "violence"

    def __init__(
        self,
        root: str,
        fold: int = 0,
        test_fold: Optional[int] = None,
        num_folds: int = 5,
        fold_seed: int = 0,
        split_mode: SplitMode = "folds",
        window: int = 64,
        stride: int = 32,
        video_frames: int = 16,
        image_frames: int = 16,
        text_frames: int = 4,
        frame_size: Optional[int] = 224,
        framing: FramingSetting = "encoders",
        batch_size: PositiveInt = 8,
        num_workers: NonNegativeInt = 2,
        on_bad_video: OnBadVideo = "error",
        cache_dir: Optional[str] = None,
        use_cache: UseCache = "auto",
        cache_num_workers: NonNegativeInt = 0,
        window_order: WindowOrder = "shuffled",
        encoders: Optional[dict[str, Any]] = None,
    ):
        super().__init__()
        check_settings(batch_size=batch_size, num_workers=num_workers, cache_num_workers=cache_num_workers,
                       frame_size=frame_size, fold=fold, test_fold=test_fold, split_mode=split_mode,
                       window_order=window_order)
        # window settings travel with checkpoints, so ``infer`` can cut videos as training did
        self.save_hyperparameters(ignore=["encoders"])
        self.root = Path(root)
        self.fold, self.num_folds, self.fold_seed = fold, num_folds, fold_seed
        self.test_fold = test_fold
        self.split_mode = split_mode
        # the one window specification, given whole to every window source
        self.spec = WindowSpec(window, stride, {"video": video_frames, "image": image_frames, "text": text_frames},
                               frame_size, resolve_framing(framing, encoders))
        self.batch_size, self.num_workers = batch_size, num_workers
        self.on_bad_video = on_bad_video
        self.cache_dir, self.use_cache, self.encoders = cache_dir, use_cache, encoders
        self.cache_num_workers = cache_num_workers
        self.window_order = window_order
        self.datasets: dict[str, Dataset] = {}
        self._cache_decided: Optional[bool] = None
        self.skipped: dict[str, list[str]] = {"videos": [], "windows": []}
        self._records: Optional[list[VideoRecord]] = None
        self._folds: Optional[dict[str, int]] = None

    # -- what a layout provides -------------------------------------------------------
    def load_records(self) -> list[VideoRecord]:
        raise NotImplementedError

    def window_target(self, values: np.ndarray, valid: np.ndarray) -> Optional[np.ndarray]:
        """The target of a window from its frames' values and validity; None skips the window."""
        raise NotImplementedError

    # -- records and folds -----------------------------------------------------------
    def records(self) -> list[VideoRecord]:
        if self._records is None:
            if not self.root.is_dir():
                raise DataError(f"data root not found: {self.root} (set --data.root to the dataset folder)")
            records = self.load_records()
            if not records:
                raise DataError(f"no videos found in {self.root}")
            seen: set[str] = set()
            for record in records:
                if record.video_id in seen:
                    raise DataError(f"{self.root}: {record.video_id} is listed twice; each video (or face track) once")
                seen.add(record.video_id)
            self._records = records
        return self._records

    def fold_assignment(self) -> dict[str, int]:
        """video_id -> fold, for the records outside the test split."""
        if self._folds is None:
            dev = [r for r in self.records() if r.split != "test"]
            fixed = [r.fold is not None for r in dev]
            if all(fixed):
                self._folds = {r.video_id: int(r.fold) for r in dev}
            elif any(fixed):
                missing = next(r.video_id for r in dev if r.fold is None)
                raise DataError(f"{self.root}: some videos have a fold and some do not (e.g. {missing}); give all or none")
            else:
                folds = group_folds([r.group_key for r in dev], [r.stratum for r in dev], self.num_folds, self.fold_seed)
                self._folds = {r.video_id: f for r, f in zip(dev, folds)}
        return self._folds

    def split_records(self) -> dict[str, list[VideoRecord]]:
        records = self.records()
        test = [r for r in records if r.split == "test"]
        if self.split_mode == "official":
            splits = {"train": [r for r in records if r.split == "train"], "val": [r for r in records if r.split == "val"]}
        else:
            folds = self.fold_assignment()
            known = sorted(set(folds.values()))
            if self.fold not in known:
                raise DataError(f"--data.fold {self.fold} is not a fold of {self.root}; its folds are {known}")
            if self.test_fold is not None and self.test_fold not in known:
                raise DataError(f"--data.test_fold {self.test_fold} is not a fold of {self.root}; its folds are {known}")
            dev = [r for r in records if r.split != "test"]
            held_out = {self.fold, self.test_fold}
            splits = {"train": [r for r in dev if folds[r.video_id] not in held_out],
                      "val": [r for r in dev if folds[r.video_id] == self.fold]}
            if self.test_fold is not None:
                splits["test"] = [r for r in dev if folds[r.video_id] == self.test_fold]
                return splits
        splits["test"] = test or splits["val"]
        return splits

    # -- feature cache ---------------------------------------------------------------
    def cache_name(self, record: VideoRecord) -> str:
        """How the cache names a record's video: its path relative to the root (face tracks share it)."""
        return str(record.path.relative_to(self.root)) if record.path.is_relative_to(self.root) else str(record.path)

    def feature_cache(self) -> Optional[FeatureCache]:
        if self.cache_dir is None:
            return None
        if self.encoders is None:
            raise ConfigError("--data.cache_dir needs the encoder specs (data.encoders), which key the cache; "
                              "the command line links them from model.*")
        return FeatureCache(self.cache_dir, key_content(self.encoders, self.spec))

    @property
    def uses_cache(self) -> bool:
        """Whether windows come from the feature cache (decided once, on first use)."""
        if self._cache_decided is None:
            self._cache_decided = self._decide_cache()
        return self._cache_decided

    def cached_feature_dims(self) -> Optional[dict[str, int]]:
        """The stream feature sizes when windows come from the cache, else None. The command
        line hands them to the model, which then does not build (or load) its encoders."""
        if not self.uses_cache:
            return None
        first = self.records()[0]
        return feature_dims(self.feature_cache().path(self.cache_name(first)))

    def _decide_cache(self) -> bool:
        if self.use_cache == "never":
            return False
        cache = self.feature_cache()
        if cache is None:
            if self.use_cache == "always":
                raise ConfigError("--data.use_cache always needs --data.cache_dir")
            return False
        videos = {self.cache_name(r): r.path for r in self.records()}
        stale = [name for name, path in videos.items() if not cache.is_valid(name, path)]
        if cache.is_complete(sorted(videos)) and not stale:
            rank_zero_info(f"reading features from the cache {cache.directory}")
            return True
        if stale and self.use_cache == "always":
            raise DataError(f"the feature cache {cache.directory} lacks current features for {len(stale)} video(s), "
                            f"e.g. {stale[0]} (missing, truncated, or the video changed since); run `python -m "
                            "lightning_app extract` with the same config")
        if self.use_cache == "always":
            raise DataError(f"the feature cache {cache.directory} is not complete for this dataset; "
                            "run `python -m lightning_app extract` with the same config first")
        rank_zero_info(f"no complete feature cache at {cache.directory}: decoding videos and running the encoders")
        return False

    # -- windows ---------------------------------------------------------------------
    def _video_windows(self, index: int, record: VideoRecord) -> tuple[list[WindowItem], FrameTargets]:
        cache_path, rows = None, {}
        if self.uses_cache:
            cache_path = self.feature_cache().path(self.cache_name(record))
            metadata, starts, _ = read_index(cache_path)
            num_frames = int(metadata["num_frames"])
            rows = {int(start): row for row, start in enumerate(starts)}
        else:
            num_frames = probe_video(record.path).num_frames
        targets = record.load_targets(num_frames)
        items = []
        for start in self.spec.starts(num_frames):
            values, valid = targets.window(start, self.spec.window)
            target = self.window_target(values, valid)
            if target is None:
                self.skipped["windows"].append(f"{record.video_id}@{start}")
                continue
            items.append(WindowItem(
                video_index=index, video_id=record.video_id, path=record.path, start=start,
                end=min(start + self.spec.window, num_frames), target=np.asarray(target, np.float32).reshape(-1),
                indices=self.spec.indices(start, num_frames),
                cache_path=cache_path, cache_row=rows.get(start, -1),
            ))
            if cache_path is not None and items[-1].cache_row < 0:
                raise DataError(f"feature cache file {cache_path} has no window at frame {start}; re-run extract")
        return items, targets

    def _build(self, name: str, records: list[VideoRecord]) -> Dataset:
        windows: list[WindowItem] = []
        targets: dict[int, FrameTargets] = {}
        skipped_windows = len(self.skipped["windows"])
        for index, record in enumerate(records):
            try:
                items, targets[index] = self._video_windows(index, record)
            except DataError as error:
                if self.on_bad_video == "error":
                    raise DataError(f"{error} (set --data.on_bad_video skip to leave such videos out)") from error
                self.skipped["videos"].append(f"{record.video_id}: {error}")
                rank_zero_warn(f"skipping {record.video_id}: {error}")
                continue
            windows.extend(items)
        no_target = len(self.skipped["windows"]) - skipped_windows
        if not windows:
            raise DataError(f"the {name} split of {self.root} has no usable window ({len(records)} videos, fold {self.fold})")
        rank_zero_info(f"{name}: {len(records)} videos, {len(windows)} windows"
                       + (f", {no_target} windows skipped (no valid frame)" if no_target else ""))
        if self.uses_cache:
            return CachedWindowDataset(windows, targets, self.spec)
        # readers kept open per worker: by_video, one per lane (a video of its batches), plus one;
        # evaluation, its run of consecutive windows (``eval_order``) spans one or two videos at a time
        open_readers = 0
        if name != "train":
            open_readers = EVAL_OPEN_READERS
        elif self.window_order == "by_video":
            open_readers = self.batch_size + 1
        return WindowDataset(windows, targets, self.spec, open_readers)

    def setup(self, stage: Optional[str] = None) -> None:
        splits = self.split_records()
        if self._cache_decided is None:  # decided here, before any video is opened
            self._cache_decided = self._decide_cache()
        if stage == "test" and splits["test"] is splits["val"]:
            rank_zero_warn("the dataset marks no test videos: testing on the validation fold")
        for name in STAGE_SPLITS.get(stage, ("train", "val", "test")):
            if name in self.datasets:
                continue
            if not splits[name]:
                raise DataError(f"the {name} split of {self.root} is empty (split_mode {self.split_mode}, fold {self.fold})")
            self.datasets[name] = self._build(name, splits[name])
        self._write_folds()

    def _write_folds(self) -> None:
        trainer = self.trainer
        if trainer is None:
            return
        log_dir = trainer.log_dir  # a collective under DDP: every rank asks
        # without a logger there is no run folder (log_dir falls back to the working directory)
        if trainer.global_rank != 0 or log_dir is None or not trainer.loggers:
            return
        directory = Path(log_dir)
        directory.mkdir(parents=True, exist_ok=True)
        content = {"split_mode": self.split_mode, "fold": self.fold, "test_fold": self.test_fold, "num_folds": self.num_folds,
                   "fold_seed": self.fold_seed, "skipped": self.skipped}
        if self.split_mode == "folds":
            content["folds"] = dict(sorted(self.fold_assignment().items()))
        else:
            content["splits"] = {name: [r.video_id for r in rs] for name, rs in self.split_records().items()}
        atomic_write_text(directory / FOLDS_FILE, json.dumps(content, indent=2) + "\n")

    # -- loaders ---------------------------------------------------------------------
    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        """No loader draws from torch's global generator (training shuffles by seed and epoch; its
        own generator gives the worker base seed): a resumed fit sees an unbroken fit's batches
        and augmentation noise."""
        workers = self.cache_num_workers if self.uses_cache else self.num_workers
        seed = run_seed()
        dataset = self.datasets[name]
        sampler = EpochSeededRandomSampler(dataset, seed) if shuffle else None
        trainer = self.trainer
        ranks = {"num_replicas": trainer.world_size if trainer else 1, "rank": trainer.global_rank if trainer else 0}
        if shuffle and self.window_order == "by_video" and not self.uses_cache:
            sampler = VideoOrderSampler([w.video_index for w in dataset.windows], self.batch_size, workers, seed, **ranks)
        elif not shuffle and not self.uses_cache:
            sampler = ContiguousRunSampler(len(dataset), self.batch_size, workers, **ranks)
        return DataLoader(dataset, batch_size=self.batch_size, sampler=sampler, num_workers=workers,
                          collate_fn=collate_windows, persistent_workers=workers > 0, generator=torch.Generator().manual_seed(seed))

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)
