"""The LightningModule ``extract`` predicts with: frozen encoders over every window of a video."""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as pl

from datamodules.window_dataset import stream_frames
from lightning_app.errors import DataError
from models.feature_extractor import FrozenFeatureExtractor

STREAMS = ("video", "image", "text")


class FeatureExtractionModule(pl.LightningModule):
    """``predict_step`` takes one chunk of a video's windows (``datamodules.extraction_data.
    VideoChunkStream``) and returns their features, window ranges and captions, tagged with
    the video, for ``callbacks.feature_writer.FeatureCacheWriter`` to put together. A video
    that cannot be read, or whose captions cannot be found, comes back as ``{"video", "error"}``.
    """

    def __init__(self, extractor: FrozenFeatureExtractor):
        super().__init__()
        self.extractor = extractor

    def predict_step(self, chunk: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        if "error" in chunk:
            return {"video": chunk["name"], "error": chunk["error"]}
        started = time.perf_counter()
        captions_for = ([chunk["path"]] * len(chunk["starts"]), chunk["text_frames"])
        try:
            streams = stream_frames({"frames": chunk["frames"].to(self.device), "stream_rows": chunk["stream_rows"]})
            out, captions = self.extractor(*(streams[name] for name in STREAMS), captions_for=captions_for)
        except DataError as error:
            return {"video": chunk["name"], "error": str(error)}
        features = {name: out[name].cpu().numpy() for name in STREAMS}
        return {
            "video": chunk["name"],
            "path": chunk["path"],
            "last": chunk["last"],
            "features": features,
            "starts": chunk["starts"],
            "ends": chunk["ends"],
            "captions": captions,
            "num_frames": chunk["num_frames"],
            "seconds": {"decode": chunk["decode_seconds"], "encode": time.perf_counter() - started},
            "frames_decoded": chunk["frames_decoded"],
        }
