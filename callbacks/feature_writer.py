"""Writes what ``extract`` predicts into the feature cache, one file per video, as it goes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.callbacks import Callback

from datamodules.cache_claims import VideoClaims
from datamodules.feature_cache import FeatureCache
from lightning_app.errors import DataError

# one per rank of one extract job (several jobs may share a cache)
RANK_REPORT = "extract_report.{job}.rank{rank}.json"


class FeatureCacheWriter(Callback):
    """Puts each video's chunks together (chunks of several videos arrive interleaved, one or a list of them per
    batch, each video's in order) and writes the video's file the moment its last chunk is in, so an interrupted run
    keeps it. A video that fails part way is dropped, chunks and all. Leaves a per-rank report (videos done,
    failures, seconds spent decoding, encoding, writing and waiting for frames) in the cache folder for the command
    to merge. ``wait_for_frames`` is how long the encoders sat idle before each chunk; a large share of the run says
    more decoding workers (``--data.num_workers``) would speed extraction up.

    A plain callback, not a ``BasePredictionWriter``: it needs no sample indices, which Lightning cannot track for
    the iterable dataset that ``extract`` predicts over."""

    def __init__(self, cache: FeatureCache, job: str, claims: Optional[VideoClaims] = None):
        super().__init__()
        self.cache = cache
        self.job = job  # this extract job's id, in its report files' names
        self.claims = claims  # released once a video is written (or has failed)
        self.report: dict[str, Any] = {
            "done": [], "errors": [], "seconds": {"decode": 0.0, "encode": 0.0, "write": 0.0, "wait_for_frames": 0.0},
            "windows": 0, "frames_decoded": 0, "image_frames_encoded": 0, "captions_encoded": 0}
        self._idle_since: float | None = None
        self._parts: dict[str, list[dict[str, Any]]] = {}  # chunks of the videos not complete yet
        self._failed: set[str] = set()

    def setup(self, trainer, pl_module, stage: str) -> None:
        # rank 0's id for every rank (ranks that Lightning launched each made their own)
        self.job = trainer.strategy.broadcast(self.job)

    def _release(self, video: str) -> None:
        if self.claims is not None:
            self.claims.release(video)

    def _fail(self, video: str, reason: str) -> None:
        self._release(video)
        self._parts.pop(video, None)
        self._failed.add(video)
        self.report["errors"].append({"video": video, "reason": reason})

    def on_predict_epoch_start(self, trainer, pl_module) -> None:
        self._idle_since = time.perf_counter()

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self._idle_since is not None:
            self.report["seconds"]["wait_for_frames"] += time.perf_counter() - self._idle_since
        self._idle_since = None

    def on_predict_batch_end(self, trainer, pl_module, prediction, batch, batch_idx, dataloader_idx=0) -> None:
        """``prediction``: one chunk's result, or a list of them (``FeatureExtractionModule``)."""
        for result in prediction if isinstance(prediction, list) else [prediction]:
            video = result["video"]
            if video in self._failed:  # the rest of a video that failed part way
                continue
            if "error" in result:
                self._fail(video, result["error"])
                continue
            self._parts.setdefault(video, []).append(result)
            self.report["seconds"]["encode"] += result["seconds"]["encode"]
            for key, count in result.get("encoded", {}).items():
                self.report[key] += count
            if result["last"]:
                self._write(self._parts.pop(video))
        self._idle_since = time.perf_counter()

    def _write(self, parts: list[dict[str, Any]]) -> None:
        last = parts[-1]
        started = time.perf_counter()
        features = {name: np.concatenate([p["features"][name] for p in parts]) for name in last["features"]}
        starts = np.concatenate([p["starts"] for p in parts])
        ends = np.concatenate([p["ends"] for p in parts])
        captions = [caption for p in parts for caption in p["captions"]]
        try:  # e.g. an encoder gave NaN for this video: record it, the others go on
            self.cache.write(last["video"], Path(last["path"]), features, starts, ends, last["num_frames"], captions)
        except DataError as error:
            self._fail(last["video"], str(error))
            return
        self._release(last["video"])
        seconds = self.report["seconds"]
        seconds["write"] += time.perf_counter() - started
        seconds["decode"] += last["seconds"]["decode"]  # the video's total so far, at its last chunk
        self.report["done"].append(last["video"])
        self.report["windows"] += len(starts)
        self.report["frames_decoded"] += last["frames_decoded"]

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        path = self.cache.directory / RANK_REPORT.format(job=self.job, rank=trainer.global_rank)
        path.write_text(json.dumps(self.report) + "\n")
