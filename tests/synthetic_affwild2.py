"""A small Aff-Wild2-shaped dataset for the tests, written as real H.264 MP4 files with the
challenge's annotation layout (``datamodules/affwild2.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.synthetic_videos import random_background, write_mp4


def render_va_clip(num_frames: int, size: int, rng: np.random.Generator,
                   periods: tuple[float, float] = (40, 120)) -> tuple[np.ndarray, np.ndarray]:
    """A clip whose per-frame (valence, arousal) is visible: arousal sets how fast the object
    moves, valence its colour (red = -1 .. green = +1). Returns frames and (T, 2) values."""
    t = np.arange(num_frames)
    periods = rng.uniform(*periods, size=2)  # in frames: how fast valence and arousal change
    phases = rng.uniform(0, 2 * np.pi, size=2)
    va = 0.8 * np.sin(2 * np.pi * t[:, None] / periods + phases)
    background = random_background(rng, size)
    side = int(rng.integers(size // 5, size // 3))
    position = rng.uniform(0, size - side, size=2)
    direction = rng.uniform(0, 2 * np.pi)
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for i, (valence, arousal) in enumerate(va):
        direction += rng.normal(0, 0.3)
        position = position + (0.3 + 3.0 * (arousal + 1)) * np.array([np.cos(direction), np.sin(direction)])
        bounced = (position < 0) | (position > size - side)
        direction += np.pi * bounced.any()
        position = np.clip(position, 0, size - side)
        colour = np.array([255 * (1 - valence) / 2, 255 * (1 + valence) / 2, 60])
        image = background.copy()
        y, x = position.astype(int)
        image[y : y + side, x : x + side] = colour
        frames[i] = image.astype(np.uint8)
    return frames, va.astype(np.float32)


def _write_va_file(path: Path, va: np.ndarray, invalid: np.ndarray) -> None:
    lines = ["valence,arousal"] + [
        "-5,-5" if bad else f"{v:.4f},{a:.4f}" for (v, a), bad in zip(va, invalid)
    ]
    path.write_text("\n".join(lines) + "\n")


def write_synthetic_affwild2(
    root: str | Path,
    num_videos: int = 8,
    size: int = 32,
    fps: int = 24,
    min_seconds: float = 3.0,
    max_seconds: float = 5.0,
    seed: int = 0,
    periods: tuple[float, float] = (40, 120),
) -> Path:
    """An Aff-Wild2-shaped dataset (see ``datamodules/affwild2.py``) with its awkward cases:

    * about a quarter of the annotated videos in Validation_Set, the rest in Train_Set;
    * the first video has two faces: ``<name>_left.txt`` and ``<name>_right.txt``;
    * the second video is shorter than a 64-frame window (40 frames);
    * runs of frames marked -5 in every file, and one file whose first 64 frames are all -5;
    * one extra video with no annotation file.
    """
    root = Path(root)
    videos_dir = root / "videos"
    annotations = root / "VA_Estimation_Challenge"
    for split_dir in ("Train_Set", "Validation_Set"):
        (annotations / split_dir).mkdir(parents=True, exist_ok=True)
    videos_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    num_val = max(1, num_videos // 4)
    for index in range(num_videos + 1):
        num_frames = 40 if index == 1 else int(round(rng.uniform(min_seconds, max_seconds) * fps))
        frames, va = render_va_clip(num_frames, size, rng, periods)
        name = f"video{index:03d}"
        write_mp4(videos_dir / f"{name}.mp4", frames, fps)
        if index == num_videos:
            continue  # the unannotated video
        split_dir = "Validation_Set" if index >= num_videos - num_val else "Train_Set"
        invalid = np.zeros(num_frames, bool)
        start = int(rng.integers(0, num_frames - 5))
        invalid[start : start + int(rng.integers(3, 10))] = True
        if index == 2:
            invalid[:64] = True
        if index == 0:
            _write_va_file(annotations / split_dir / f"{name}_left.txt", va, invalid)
            _write_va_file(annotations / split_dir / f"{name}_right.txt", np.clip(va * 0.5, -1, 1), invalid)
        else:
            _write_va_file(annotations / split_dir / f"{name}.txt", va, invalid)
    return root
