"""Frame-level targets and the rules that turn them into window targets. Pure functions.

Every video carries ``FrameTargets``: one row of C values per frame and a validity flag
(Aff-Wild2 marks invalid frames with -5; padding past a video's end is invalid too). The window
rules (``violence_window_target``, C = 1; ``va_window_target``, C = 2) look at the valid frames
the window covers; a window with no valid frame has no target and is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

INVALID_VA = -5.0


@dataclass(frozen=True)
class FrameTargets:
    values: np.ndarray  # (num_frames, C) float32
    valid: np.ndarray  # (num_frames,) bool

    def __post_init__(self):
        if self.values.ndim != 2 or self.valid.shape != (self.values.shape[0],):
            raise ValueError(f"values must be (N, C) and valid (N,), got {self.values.shape} and {self.valid.shape}")

    def __len__(self) -> int:
        return self.values.shape[0]

    def window(self, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Values (length, C) and validity (length,) of frames ``start .. start + length``,
        padded past the end with invalid rows."""
        values = np.zeros((length, self.values.shape[1]), np.float32)
        valid = np.zeros(length, bool)
        stop = min(start + length, len(self))
        values[: stop - start] = self.values[start:stop]
        valid[: stop - start] = self.valid[start:stop]
        return values, valid


def constant_targets(label: int, num_frames: int) -> FrameTargets:
    """Every frame of a video carries the video's label."""
    return FrameTargets(np.full((num_frames, 1), float(label), np.float32), np.ones(num_frames, bool))


def segment_targets(segments: list[tuple[int, int]], num_frames: int, tolerance: int = 0) -> FrameTargets:
    """Violent frame ranges ``[start, end)`` -> per-frame 0/1 labels. A segment outside the
    video (ending over ``tolerance`` frames past it: labels of another cut or frame rate) raises
    ``ValueError``."""
    values = np.zeros((num_frames, 1), np.float32)
    for start, end in segments:
        if not 0 <= start < end:
            raise ValueError(f"segment {start}-{end} is not a frame range start < end with start >= 0")
        if start >= num_frames:
            raise ValueError(f"segment {start}-{end} starts past the video's {num_frames} frames")
        if end > num_frames + tolerance:
            raise ValueError(f"segment {start}-{end} ends past the video's {num_frames} frames (tolerance {tolerance})")
        values[start:end] = 1.0
    return FrameTargets(values, np.ones(num_frames, bool))


def parse_segments(text: str) -> list[tuple[int, int]]:
    """``"12-40;100-130"`` -> [(12, 40), (100, 130)]; an empty string means no violent frame."""
    segments = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        match = re.fullmatch(r"([0-9]+)\s*-\s*([0-9]+)", part)
        if match is None:
            raise ValueError(f"segment {part!r} is not START-END (two frame numbers >= 0)")
        segments.append((int(match[1]), int(match[2])))
    return segments


def violence_window_target(values: np.ndarray, valid: np.ndarray, min_fraction: float) -> float | None:
    """1.0 when at least ``min_fraction`` of the valid frames are violent, else 0.0; None if none is valid."""
    if not valid.any():
        return None
    # count, then divide once in float64: a float32 mean puts 7 of 10 frames below 0.7
    fraction = float(values[valid, 0].sum(dtype=np.float64)) / int(valid.sum())
    return 1.0 if fraction >= min_fraction else 0.0


def va_window_target(values: np.ndarray, valid: np.ndarray) -> np.ndarray | None:
    """Mean (valence, arousal) of the valid frames; None if none is valid."""
    if not valid.any():
        return None
    return values[valid].mean(axis=0).astype(np.float32)


def fit_to_frames(targets: FrameTargets, num_frames: int, tolerance: int) -> FrameTargets:
    """Match per-frame labels to a video's frame count: up to ``tolerance`` extra rows are dropped
    or missing ones padded as invalid; a larger difference raises ``ValueError``."""
    have = len(targets)
    if abs(have - num_frames) > tolerance:
        raise ValueError(f"{have} label rows for a video of {num_frames} frames (tolerance {tolerance})")
    if have >= num_frames:
        return FrameTargets(targets.values[:num_frames], targets.valid[:num_frames])
    pad = num_frames - have
    return FrameTargets(
        np.concatenate([targets.values, np.zeros((pad, targets.values.shape[1]), np.float32)]),
        np.concatenate([targets.valid, np.zeros(pad, bool)]),
    )
