"""Running a trained model on unlabelled videos: window predictions in batch or streaming mode,
per-frame predictions, violent segments, and the files written per video."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
import torch

from datamodules.prefetch import prefetch
from datamodules.video_io import declared_frame_count, frame_times, truncation_warning
from datamodules.window_source import LiveWindowSource, VideoWindowSource
from datamodules.windows import WindowSpec
from models.frame_encoding import FrameMemo
from models.lit_module import ENCODER_KEYS, VideoFusionModule
from models.tasks import Task
from models.timeline import frames_from_windows


@dataclass
class VideoResult:
    name: str
    task: Task  # what the predictions are, and how a video's are summed up
    starts: np.ndarray
    ends: np.ndarray
    preds: np.ndarray  # (W, C)
    frame_start_times: np.ndarray  # (N,)
    frame_end_times: np.ndarray  # (N,)
    latencies: list[float] = field(default_factory=list)  # streaming: seconds, a window's last frame to its prediction
    warnings: list[str] = field(default_factory=list)  # e.g. decoding stopped before the end of the stream

    @property
    def prediction_names(self) -> tuple[str, ...]:
        return tuple(self.task.prediction_names)

    @property
    def num_frames(self) -> int:
        return len(self.frame_start_times)

    def frame_preds(self) -> np.ndarray:
        return frames_from_windows(self.starts, self.ends, self.preds, self.num_frames)


class VideoPredictor:
    """Trained ``VideoFusionModule``s in eval mode on one device, predicting window batches with
    one window spec. Several models are an ensemble: their predictions are averaged, and models
    with the same encoders share them, so each window is decoded and encoded once."""

    def __init__(self, model: VideoFusionModule | Sequence[VideoFusionModule], spec: WindowSpec, device: str = "cpu",
                 windows_per_batch: int = 8):
        self.models = [m.eval().to(device) for m in ([model] if isinstance(model, VideoFusionModule) else model)]
        self.model = self.models[0]
        for other in self.models[1:]:
            if all(other.hparams[key] == self.model.hparams[key] for key in ENCODER_KEYS):
                other.extractor = self.model.extractor
        self.spec, self.device, self.windows_per_batch = spec, torch.device(device), windows_per_batch

    @property
    def prediction_names(self) -> tuple[str, ...]:
        return tuple(self.model.task.prediction_names)

    @torch.inference_mode()
    def predict_chunk(self, chunk: dict[str, Any], path: Path | str,
                      memos: Optional[dict[int, FrameMemo]] = None) -> np.ndarray:
        """A chunk of windows (``datamodules.window_source``) -> predictions (B, C). A
        captions-file captioner looks the captions up by ``path`` and the chunk's ``text_frames``.
        ``memos`` (per extractor) carry the per-frame results of the video's chunk before, whose
        frames this one shares."""
        batch = {"frames": chunk["frames"].to(self.device), "stream_rows": chunk["stream_rows"],
                 "video_path": [str(path)] * len(chunk["starts"]), "text_frames": chunk["text_frames"]}
        lengths = {name: value.to(self.device) for name, value in chunk["stream_lengths"].items()}
        keys = chunk["frame_numbers"].tolist() if memos is not None else None
        features: dict[int, dict[str, torch.Tensor]] = {}  # per extractor: each window encoded once
        preds = []
        for model in self.models:
            if id(model.extractor) not in features:
                memo = memos.setdefault(id(model.extractor), FrameMemo()) if memos is not None else None
                features[id(model.extractor)] = model.features(batch, keys, memo)
            outputs = model.model(features[id(model.extractor)], lengths)
            preds.append(model.task.predict(outputs.float()))
        return torch.stack(preds).mean(0).cpu().numpy()

    def predict_file(self, path: Path, name: str) -> VideoResult:
        """Batch mode: the file decoded front to back once, a chunk of windows at a time, in a
        background thread a chunk or two ahead of the model."""
        source = VideoWindowSource(path, self.spec, self.windows_per_batch)
        memos: dict[int, FrameMemo] = {}  # frames a chunk shares with the next are encoded once
        chunks = [(chunk["starts"], chunk["ends"], self.predict_chunk(chunk, path, memos)) for chunk in prefetch(source)]
        starts, ends, preds = (np.concatenate(part) for part in zip(*chunks))
        begin, finish = frame_times(path)
        warning = truncation_warning(declared_frame_count(path), len(begin))
        return VideoResult(name, self.model.task, starts, ends, preds, begin, finish,
                           warnings=[warning] if warning else [])

    def stream(self, source: str, name: str, on_window=None, input_format: Optional[str] = None,
               follow_seconds: Optional[float] = None) -> VideoResult:
        """Streaming mode: PyAV reads frames as they come; each window is predicted once complete and passed to
        ``on_window(start, end, start_time, end_time, prediction, latency)`` if given."""
        live = LiveWindowSource(source, self.spec, input_format, follow_seconds)
        starts, ends, preds, latencies, times = [], [], [], [], []
        for chunk in live:
            pred = self.predict_chunk(chunk, source)[0]
            latency = time.perf_counter() - chunk["ready"]
            start, end = int(chunk["starts"][0]), int(chunk["ends"][0])
            starts.append(start)
            ends.append(end)
            preds.append(pred)
            latencies.append(latency)
            times.append((chunk["start_time"], chunk["end_time"]))
            if on_window is not None:
                on_window(start, end, chunk["start_time"], chunk["end_time"], pred, latency)
        # frame times are known per window only: spread each window's span evenly over its frames
        begin, finish = np.full(live.num_frames, np.nan), np.full(live.num_frames, np.nan)
        for start, end, (t0, t1) in zip(starts, ends, times):
            edges = np.linspace(t0, t1, end - start + 1)
            begin[start:end], finish[start:end] = edges[:-1], edges[1:]
        return VideoResult(name, self.model.task, np.asarray(starts), np.asarray(ends), np.asarray(preds),
                           begin, finish, latencies, [live.stopped_early] if live.stopped_early else [])


def window_rows(result: VideoResult) -> list[dict[str, Any]]:
    rows = []
    for start, end, pred in zip(result.starts, result.ends, result.preds):
        row = {"start_frame": int(start), "end_frame": int(end),
               "start_time": round(float(result.frame_start_times[start]), 4),
               "end_time": round(float(result.frame_end_times[end - 1]), 4)}
        row.update({name: round(float(value), 6) for name, value in zip(result.prediction_names, pred)})
        rows.append(row)
    return rows


def frame_rows(result: VideoResult) -> list[dict[str, Any]]:
    preds = result.frame_preds()
    return [{"frame": index, "time": round(float(result.frame_start_times[index]), 4),
             **{name: round(float(value), 6) for name, value in zip(result.prediction_names, preds[index])}}
            for index in range(result.num_frames)]


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_outputs(result: VideoResult, directory: Path, threshold: float, min_segment: float) -> dict[str, Any]:
    """windows.csv / .json, frames.csv / .json, timeline.png and, for a task that finds segments
    (violence), segments.json. Returns the one-line summary's fields."""
    from lightning_app.plots import plot_timeline

    directory.mkdir(parents=True, exist_ok=True)
    windows, frames = window_rows(result), frame_rows(result)
    _write_csv(directory / "windows.csv", windows)
    _write_csv(directory / "frames.csv", frames)
    (directory / "windows.json").write_text(json.dumps(windows, indent=1))
    (directory / "frames.json").write_text(json.dumps(frames))
    frame_preds = result.frame_preds()
    summary: dict[str, Any] = {"video": result.name, "frames": result.num_frames, "windows": len(windows),
                               "duration": round(float(np.nanmax(result.frame_end_times)), 3) if result.num_frames else 0.0}
    if result.warnings:
        summary["warnings"] = list(result.warnings)
    fields, segments = result.task.video_summary(result.preds, frame_preds, result.frame_start_times,
                                                 result.frame_end_times, threshold, min_segment)
    summary.update(fields)
    if segments is not None:
        (directory / "segments.json").write_text(json.dumps([
            {"start_time": round(s.start_time, 4), "end_time": round(s.end_time, 4), "start_frame": s.start_frame,
             "end_frame": s.end_frame, "peak_probability": round(s.peak, 6)} for s in segments], indent=1))
    plot_timeline(directory / "timeline.png", result.frame_start_times, frame_preds, result.prediction_names,
                  threshold if segments is not None else None, segments, title=result.name)
    return summary
