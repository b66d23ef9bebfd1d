"""The LightningModule ``extract`` predicts with: frozen encoders over every window of a video."""

from __future__ import annotations

import time
from typing import Any, Union

import lightning.pytorch as pl
import torch

from datamodules.batch import STREAMS, join_windows
from lightning_app.errors import DataError
from models.feature_extractor import FrozenFeatureExtractor
from models.frame_encoding import FrameMemo


class FeatureExtractionModule(pl.LightningModule):
    """``predict_step`` takes one chunk of a video's windows (``datamodules.window_source``, as
    ``datamodules.extraction_data.VideoChunkStream`` hands them over), or a list of chunks of one or more videos,
    and returns a list with each chunk's features, window ranges and captions, tagged with its video, for
    ``callbacks.feature_writer.FeatureCacheWriter`` to put together. The chunks of a list go through the encoders in
    one call (those whose frames have one size), so batches stay full across the ends of short videos; the per-frame
    encoders see each distinct frame once, also where a video's consecutive chunks overlap (``encoded`` counts them).
    A video that cannot be read, or whose captions cannot be found, comes back as ``{"video", "error"}``.
    """

    def __init__(self, extractor: FrozenFeatureExtractor):
        super().__init__()
        self.extractor = extractor
        # the per-frame results of the last call, for the next chunks of its videos (models/frame_encoding.py)
        self.memo = FrameMemo()

    def predict_step(self, batch: Union[dict[str, Any], list[dict[str, Any]]], batch_idx: int) -> list[dict[str, Any]]:
        chunks = batch if isinstance(batch, list) else [batch]
        results: list[Any] = [None] * len(chunks)
        by_size: dict[tuple, list[int]] = {}
        for position, chunk in enumerate(chunks):
            if "error" in chunk:
                results[position] = {"video": chunk["name"], "error": chunk["error"]}
            else:
                by_size.setdefault(tuple(chunk["frames"].shape[1:]), []).append(position)
        for positions in by_size.values():
            for position, result in zip(positions, self._encode([chunks[p] for p in positions])):
                results[position] = result
        return results

    def _encode(self, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The chunks' windows through the encoders in one call; one result per chunk."""
        started = time.perf_counter()
        paths = [chunk["path"] for chunk in chunks for _ in range(len(chunk["starts"]))]
        text_frames = torch.cat([chunk["text_frames"] for chunk in chunks])
        # each row's frame across chunks: a video's next chunk reuses the per-frame results of the frames it shares
        row_keys = [(chunk["path"], number) for chunk in chunks for number in chunk["frame_numbers"].tolist()]
        try:
            joined = join_windows(chunks)
            out, captions, counts = self.extractor.encode(joined["frames"].to(self.device), joined["stream_rows"],
                                                          (paths, text_frames), row_keys, self.memo)
        except DataError as error:
            if len(chunks) > 1:  # e.g. one video's captions missing: each chunk alone, so the others go on
                return [result for chunk in chunks for result in self._encode([chunk])]
            return [{"video": chunks[0]["name"], "error": str(error)}]
        features = {name: out[name].cpu().numpy() for name in STREAMS}  # waits for the device
        seconds = time.perf_counter() - started
        finished = {chunk["path"] for chunk in chunks if chunk["last"]}
        self.memo.forget(lambda key: key[0] in finished)
        encoded = {"image_frames_encoded": counts.image_frames_encoded, "captions_encoded": counts.captions_encoded}
        results, first = [], 0
        for chunk in chunks:
            part = slice(first, first + len(chunk["starts"]))
            first = part.stop
            results.append({
                "video": chunk["name"], "path": chunk["path"], "last": chunk["last"],
                "features": {name: values[part] for name, values in features.items()},
                "starts": chunk["starts"], "ends": chunk["ends"], "captions": captions[part],
                "num_frames": chunk["num_frames"],
                # the call's time, shared out by windows
                "seconds": {"decode": chunk["decode_seconds"], "encode": seconds * len(chunk["starts"]) / len(paths)},
                "frames_decoded": chunk["frames_decoded"],
                "encoded": encoded if not results else dict.fromkeys(encoded, 0),  # the call's counts, once
            })
        return results
