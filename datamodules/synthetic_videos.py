"""A small synthetic violence dataset, written as real H.264 MP4 files.

The rule the model has to learn:

* violent (label 1): the objects jump to new places every frame (fast, erratic motion),
  and bright flashes hit about one frame in five;
* calm (label 0): the objects glide slowly along straight lines and bounce off the borders.

Backgrounds (colour, gradient, texture), object count, sizes and colours vary per clip and
carry no information about the label. The signal lives in how frames *change*, which is
what survives random tiny encoders: a per-frame feature of a random network still moves a
lot when the picture jumps or flashes and little when it drifts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.folds import stratified_folds
from datamodules.dvd import MANIFEST_NAME, write_manifest


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.uniform(30, 200, size=3)
    ramp = np.linspace(-1.0, 1.0, size)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    amplitude = rng.uniform(0, 50, size=3)
    texture = rng.normal(0, rng.uniform(0, 12), size=(size, size, 1))
    image = base + gradient[..., None] * amplitude + texture
    return np.clip(image, 0, 255)


def render_clip(violent: bool, num_frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Frames (T, size, size, 3) uint8 of one clip following the rule above."""
    background = _background(rng, size)
    num_objects = int(rng.integers(1, 4))
    sides = rng.integers(size // 8, size // 3, size=(num_objects, 2))
    colours = rng.uniform(0, 255, size=(num_objects, 3))
    limits = size - sides
    position = rng.uniform(0, 1, size=(num_objects, 2)) * limits
    angle = rng.uniform(0, 2 * np.pi, size=num_objects)
    speed = rng.uniform(0.3, 1.2, size=(num_objects, 1))
    velocity = np.stack([np.cos(angle), np.sin(angle)], axis=1) * speed

    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for t in range(num_frames):
        if violent:
            position = rng.uniform(0, 1, size=(num_objects, 2)) * limits
        else:
            position = position + velocity
            bounced = (position < 0) | (position > limits)
            velocity = np.where(bounced, -velocity, velocity)
            position = np.clip(position, 0, limits)
        image = background.copy()
        for (y, x), (h, w), colour in zip(position.astype(int), sides, colours):
            image[y : y + h, x : x + w] = colour
        if violent and rng.random() < 0.2:
            strength = rng.uniform(0.6, 1.0)
            image = image * (1 - strength) + 255 * strength
        frames[t] = image.astype(np.uint8)
    return frames


def write_mp4(path: str | Path, frames: np.ndarray, fps: int) -> None:
    """Encode RGB frames (T, H, W, 3) uint8 as H.264 (yuv420p) MP4, atomically."""
    import av

    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)


def write_synthetic_dataset(
    root: str | Path,
    num_clips: int = 40,
    size: int = 64,
    fps: int = 24,
    min_seconds: float = 3.0,
    max_seconds: float = 6.0,
    num_folds: int = 5,
    seed: int = 0,
    manifest_name: str = MANIFEST_NAME,
) -> Path:
    """Write ``num_clips`` clips (half violent) and a manifest with stratified folds.

    The manifest is written last, so a folder with a manifest is complete; an interrupted
    run is simply redone.
    """
    if size % 2:
        raise ValueError(f"H.264 needs an even frame size, got {size}")
    root = Path(root)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = [i % 2 for i in range(num_clips)]
    folds = stratified_folds(labels, num_folds=num_folds, seed=seed)
    rows = []
    for index, (label, fold) in enumerate(zip(labels, folds)):
        num_frames = int(round(rng.uniform(min_seconds, max_seconds) * fps))
        frames = render_clip(bool(label), num_frames, size, rng)
        name = f"clips/{'violent' if label else 'calm'}_{index:03d}.mp4"
        write_mp4(root / name, frames, fps)
        rows.append({"video": name, "label": label, "fold": fold})
    manifest = root / manifest_name
    write_manifest(manifest, rows)
    return manifest


def render_va_clip(num_frames: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A clip whose per-frame (valence, arousal) is visible: arousal sets how fast the object
    moves, valence its colour (red = -1 .. green = +1). Returns frames and (T, 2) values."""
    t = np.arange(num_frames)
    periods = rng.uniform(40, 120, size=2)
    phases = rng.uniform(0, 2 * np.pi, size=2)
    va = 0.8 * np.sin(2 * np.pi * t[:, None] / periods + phases)
    background = _background(rng, size)
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
        frames, va = render_va_clip(num_frames, size, rng)
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
