"""A small synthetic violence dataset, written as real H.264 MP4 files.

* violent (label 1): the objects jump to new places every frame, and bright flashes hit about
  one frame in five;
* calm (label 0): the objects glide slowly along straight lines and bounce off the borders.

Backgrounds, object count, sizes and colours vary per clip and say nothing about the label. The
signal is in how frames *change*, which random tiny encoders' features still show.

With the clips comes ``captions.csv`` (``video,frame,caption``, every 8th frame, for the
``captions-file`` captioner), which carries part of the signal, noisily, as a real captioner's
would: half the captions name an action (else only the place), and one action in five is of the
other class. Captions alone therefore tell most windows apart but not all; the video stream
has what they miss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.folds import stratified_folds
from datamodules.dvd import MANIFEST_NAME, write_manifest


def random_background(rng: np.random.Generator, size: int) -> np.ndarray:
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
    background = random_background(rng, size)
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


CAPTIONS_NAME = "captions.csv"
CAPTION_EVERY = 8  # frames between captioned frames
CAPTION_ACTIONS = {1: ("a person is hitting a person", "people are fighting", "a crowd is pushing and falling"),
                   0: ("a person is walking", "people are standing and still", "a car is moving slow")}
CAPTION_PLACES = ("a room", "the street", "a park", "a dark room with light")


def clip_captions(label: int, num_frames: int, rng: np.random.Generator, informative: float = 0.5,
                  wrong: float = 0.2) -> list[tuple[int, str]]:
    """(frame, caption) every ``CAPTION_EVERY`` frames of a clip, by the rule in the module doc."""
    captions = []
    for frame in range(0, num_frames, CAPTION_EVERY):
        if rng.random() < informative:
            said = 1 - label if rng.random() < wrong else label
            captions.append((frame, str(rng.choice(CAPTION_ACTIONS[said]))))
        else:
            captions.append((frame, str(rng.choice(CAPTION_PLACES))))
    return captions


def write_captions(path: Path, rows: list[tuple[str, int, str]]) -> None:
    """A captions file (``video,frame,caption``), atomically."""
    import csv

    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video", "frame", "caption"])
        writer.writerows(rows)
    tmp.replace(path)


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
    """Write ``num_clips`` clips (half violent), their captions file and a manifest with stratified
    folds, the manifest last: a folder with a manifest is complete, and an interrupted run is
    simply redone."""
    if size % 2:
        raise ValueError(f"H.264 needs an even frame size, got {size}")
    root = Path(root)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    caption_rng = np.random.default_rng([seed, 1])  # its own stream: the clips stay what they were without captions
    labels = [i % 2 for i in range(num_clips)]
    folds = stratified_folds(labels, num_folds=num_folds, seed=seed)
    rows, captions = [], []
    for index, (label, fold) in enumerate(zip(labels, folds)):
        num_frames = int(round(rng.uniform(min_seconds, max_seconds) * fps))
        frames = render_clip(bool(label), num_frames, size, rng)
        name = f"clips/{'violent' if label else 'calm'}_{index:03d}.mp4"
        write_mp4(root / name, frames, fps)
        rows.append({"video": name, "label": label, "fold": fold})
        captions += [(name, frame, text) for frame, text in clip_captions(label, num_frames, caption_rng)]
    write_captions(root / CAPTIONS_NAME, captions)
    manifest = root / manifest_name
    write_manifest(manifest, rows)
    return manifest
