"""Writes what ``extract`` predicts into the feature cache, one file per video, as it goes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BasePredictionWriter

from datamodules.feature_cache import FeatureCache
from lightning_app.errors import DataError

RANK_REPORT = "extract_report.rank{rank}.json"


class FeatureCacheWriter(BasePredictionWriter):
    """Writes each video's features the moment they are ready (so an interrupted run keeps
    them), records failures, and leaves a per-rank report (videos done, failures, seconds
    spent decoding, encoding and writing) in the cache folder for the command to merge."""

    def __init__(self, cache: FeatureCache):
        super().__init__(write_interval="batch")
        self.cache = cache
        self.report: dict[str, Any] = {"done": [], "errors": [], "seconds": {"decode": 0.0, "encode": 0.0, "write": 0.0},
                                       "windows": 0, "frames_decoded": 0}

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx) -> None:
        if "error" in prediction:
            self.report["errors"].append({"video": prediction["video"], "reason": prediction["error"]})
            return
        started = time.perf_counter()
        try:  # e.g. an encoder gave NaN for this video: record it, the others go on
            self.cache.write(prediction["video"], Path(prediction["path"]), prediction["features"], prediction["starts"],
                             prediction["ends"], prediction["num_frames"], prediction["captions"])
        except DataError as error:
            self.report["errors"].append({"video": prediction["video"], "reason": str(error)})
            return
        seconds = self.report["seconds"]
        seconds["write"] += time.perf_counter() - started
        seconds["decode"] += prediction["seconds"]["decode"]
        seconds["encode"] += prediction["seconds"]["encode"]
        self.report["done"].append(prediction["video"])
        self.report["windows"] += len(prediction["starts"])
        self.report["frames_decoded"] += prediction["frames_decoded"]

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        path = self.cache.directory / RANK_REPORT.format(rank=trainer.global_rank)
        path.write_text(json.dumps(self.report) + "\n")
