"""Turning window predictions into per-frame predictions and violent segments. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def frames_from_windows(starts: np.ndarray, ends: np.ndarray, preds: np.ndarray, num_frames: int) -> np.ndarray:
    """(num_frames, C): each frame gets the mean prediction of the windows covering it (a window covers frames
    ``[start, end)``), NaN where none does."""
    preds = np.asarray(preds, np.float64).reshape(len(starts), -1)
    sums = np.zeros((num_frames, preds.shape[1]))
    counts = np.zeros(num_frames)
    for start, end, pred in zip(starts, ends, preds):
        sums[start:end] += pred
        counts[start:end] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


@dataclass(frozen=True)
class Segment:
    start_frame: int
    end_frame: int  # exclusive
    start_time: float
    end_time: float
    peak: float

    @property
    def duration(self) -> float:
        return self.end_time - self.start_time


def violent_segments(frame_probability: np.ndarray, frame_times: np.ndarray, frame_ends: np.ndarray,
                     threshold: float, min_duration: float) -> list[Segment]:
    """Runs of consecutive frames with probability >= ``threshold`` lasting at least ``min_duration`` seconds, as
    segments in frames and seconds (``frame_times`` / ``frame_ends``: each frame's start and end time)."""
    above = np.nan_to_num(np.asarray(frame_probability, float), nan=-1.0) >= threshold
    segments, start = [], None
    for index, flag in enumerate([*above, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            segment = Segment(start, index, float(frame_times[start]), float(frame_ends[index - 1]),
                              float(np.max(frame_probability[start:index])))
            if segment.duration >= min_duration:
                segments.append(segment)
            start = None
    return segments
