"""A small dataset in the DVD release layout (``datamodules/dvd_release.py``), written as real
H.264 MP4 files with ``Frame_Number,Label`` annotation CSVs: Training, Validation and Test."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.synthetic_videos import render_clip, write_mp4


def render_labelled_video(num_frames: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Frames and per-frame 0/1 labels: calm, then (in about two videos of three) a violent part
    of 40 frames or more, then calm again."""
    labels = np.zeros(num_frames, np.uint8)
    if rng.random() < 0.67 and num_frames >= 60:
        start = int(rng.integers(0, num_frames - 40))
        labels[start : start + int(rng.integers(40, num_frames - start + 1))] = 1
    edges = np.flatnonzero(np.diff(np.concatenate([[-1], labels, [-1]])))
    parts = [render_clip(bool(labels[a]), int(b - a), size, rng) for a, b in zip(edges[:-1], edges[1:])]
    return np.concatenate(parts), labels


def write_annotation(path: Path, labels: np.ndarray, header: str = "Frame_Number,Label") -> None:
    rows = [header] + [f"{frame},{label}" for frame, label in enumerate(labels, start=1)]
    path.write_text("\n".join(rows) + "\n")


def write_synthetic_dvd_release(root: str | Path, videos: dict[str, int] | None = None, size: int = 32, fps: int = 24,
                                min_frames: int = 72, max_frames: int = 120, seed: int = 0) -> Path:
    """``videos``: how many videos each of Training, Validation and Test holds (8, 4, 2 by default)."""
    root, rng = Path(root), np.random.default_rng(seed)
    for folder, count in (videos or {"Training": 8, "Validation": 4, "Test": 2}).items():
        (root / folder / "videos").mkdir(parents=True, exist_ok=True)
        if folder != "Test":
            (root / folder / "annotations").mkdir(parents=True, exist_ok=True)
        for index in range(count):
            name = f"{folder[:1].lower()}{index:03d}"
            frames, labels = render_labelled_video(int(rng.integers(min_frames, max_frames + 1)), size, rng)
            write_mp4(root / folder / "videos" / f"{name}.mp4", frames, fps)
            if folder != "Test":
                write_annotation(root / folder / "annotations" / f"{name}.csv", labels)
    return root
