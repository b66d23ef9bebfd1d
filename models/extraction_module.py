"""The LightningModule ``extract`` predicts with: frozen encoders over every window of a video."""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as pl
import numpy as np

from datamodules.extraction_data import VideoWindowSource
from datamodules.prefetch import prefetch
from lightning_app.errors import DataError
from models.feature_extractor import FrozenFeatureExtractor


class FeatureExtractionModule(pl.LightningModule):
    """``predict_step`` takes one ``VideoWindowSource`` and returns the video's features,
    window ranges and captions, or ``{"error": ...}`` when the video cannot be read.

    The source decodes in a background thread, ``decode_ahead`` chunks ahead of the encoders,
    so decoding and encoding overlap (0: one after the other, in this thread)."""

    def __init__(self, extractor: FrozenFeatureExtractor, decode_ahead: int = 2):
        super().__init__()
        self.extractor = extractor
        self.decode_ahead = decode_ahead

    def predict_step(self, source: VideoWindowSource, batch_idx: int) -> dict[str, Any]:
        features: dict[str, list[np.ndarray]] = {"video": [], "image": [], "text": []}
        captions, starts, ends = [], [], []
        encode_seconds = 0.0
        try:
            for chunk in prefetch(source, self.decode_ahead):
                started = time.perf_counter()
                captions_for = ([str(source.job.path)] * len(chunk["starts"]), chunk["text_frames"])
                out, chunk_captions = self.extractor(*(chunk[name].to(self.device) for name in ("video", "image", "text")),
                                                     captions_for=captions_for)
                for name in features:
                    features[name].append(out[name].cpu().numpy())
                encode_seconds += time.perf_counter() - started
                captions.extend(chunk_captions)
                starts.append(chunk["starts"])
                ends.append(chunk["ends"])
        except DataError as error:
            return {"video": source.job.name, "error": str(error)}
        return {
            "video": source.job.name,
            "path": source.job.path,
            "features": {name: np.concatenate(parts) for name, parts in features.items()},
            "starts": np.concatenate(starts),
            "ends": np.concatenate(ends),
            "num_frames": source.num_frames,
            "captions": captions,
            "seconds": {"decode": source.decode_seconds, "encode": encode_seconds},
            "frames_decoded": source.frames_decoded,
        }
