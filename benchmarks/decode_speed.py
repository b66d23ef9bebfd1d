"""Decoding: the raw-video data pipeline vs the floor of decoding every frame once.

    python benchmarks/decode_speed.py [--clips 12] [--size 256] [--seconds 8] [--out benchmarks/results/decode_speed.json]

Synthetic H.264 clips (``--size`` px square, 24 fps, ``--seconds`` long, keyframe every 250
frames, x264 defaults). Measured, all on the same clips, in this process unless noted:

* floor: PyAV decoding every frame of every clip, one thread (FFmpeg's own decoder, as
  ``ffmpeg -threads 1 -i X -f null -`` would), frames converted to RGB;
* training pipeline: ``WindowDataset`` items (decord decode of each window's union of stream
  indices, gather, resize to 224 for all three streams), one process, then a DataLoader with
  1 and 2 workers (scaling), batch size 8, the second of two epochs (workers persist, as in
  training); in the default ``shuffled`` window order (each
  window decoded on its own, in random order) and in the ``by_video`` order
  (``datamodules/video_order.py``: each worker decodes its videos front to back, readers
  kept open);
* extraction pipeline: ``VideoWindowSource`` (each clip decoded front to back once, windows
  gathered and resized), one process.

Each pipeline is reported as windows/s and as a fraction of the floor, where the floor in
windows/s is (windows of the clips) / (seconds to decode all their frames). Target: at least
0.8 of the floor per core, and near-linear scaling with workers on 2 cores. As the reference
for scaling, the floor is also measured with the clips split over 2 processes, and so is the
``by_video`` pipeline run in-process (no DataLoader).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

COUNTS = {"video": 16, "image": 16, "text": 4}
WINDOW, STRIDE, FRAME_SIZE = 64, 32, 224


def write_clips(folder: Path, clips: int, size: int, seconds: int) -> list[Path]:
    import numpy as np

    from datamodules.synthetic_videos import render_clip, write_mp4

    rng = np.random.default_rng(0)
    paths = []
    for index in range(clips):
        path = folder / f"clip{index:02d}.mp4"
        write_mp4(path, render_clip(index % 2 == 0, 24 * seconds, size, rng), fps=24)
        paths.append(path)
    return paths


def floor_seconds(paths: list[Path]) -> tuple[float, int]:
    import av

    frames, started = 0, time.perf_counter()
    for path in paths:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"
            stream.codec_context.thread_count = 1
            for frame in container.decode(stream):
                frame.to_ndarray(format="rgb24")
                frames += 1
    return time.perf_counter() - started, frames


BATCH_SIZE = 8


def floor_parallel_seconds(paths: list[Path], processes: int = 2) -> float:
    """The floor with the clips split over ``processes`` processes: how far this machine's
    cores scale for decoding at all, the reference for the pipelines' scaling with workers."""
    from multiprocessing import get_context

    shares = [paths[i::processes] for i in range(processes)]
    with get_context("spawn").Pool(processes) as pool:
        pool.map(floor_seconds, [paths[:1]] * processes)  # start and import before timing
        started = time.perf_counter()
        pool.map(floor_seconds, shares)
    return time.perf_counter() - started


def _by_video_in_process(paths: list[Path]) -> float:
    """Seconds for the ``by_video`` pipeline over ``paths`` in this process (run in a pool)."""
    import torch

    torch.set_num_threads(1)
    return training_pipeline(window_items(paths, open_readers=BATCH_SIZE + 1), 0, "by_video")


def by_video_parallel_scaling(paths: list[Path], processes: int = 2) -> float:
    """How the ``by_video`` pipeline scales with no DataLoader at all: the clips split over
    ``processes`` independent processes vs all of them in one. Separates what the machine
    gives for this work from what DataLoader workers cost."""
    from multiprocessing import get_context

    with get_context("spawn").Pool(processes) as pool:
        pool.map(_by_video_in_process, [paths[:1]] * processes)  # start and import before timing
        started = time.perf_counter()
        pool.apply(_by_video_in_process, (paths,))
        one = time.perf_counter() - started
        started = time.perf_counter()
        pool.map(_by_video_in_process, [paths[i::processes] for i in range(processes)])
        return one / (time.perf_counter() - started)


def window_items(paths: list[Path], open_readers: int = 0):
    import numpy as np

    from datamodules.labels import constant_targets
    from datamodules.video_io import probe_video
    from datamodules.window_dataset import WindowDataset, WindowItem
    from datamodules.windows import window_indices, window_starts

    items, targets = [], {}
    for index, path in enumerate(paths):
        frames = probe_video(path).num_frames
        targets[index] = constant_targets(0, frames)
        for start in window_starts(frames, WINDOW, STRIDE):
            items.append(WindowItem(index, path.name, path, start, min(start + WINDOW, frames), np.zeros(1, np.float32),
                                    window_indices(start, WINDOW, COUNTS, frames)))
    return WindowDataset(items, targets, WINDOW, FRAME_SIZE, open_readers)


def training_pipeline(dataset, workers: int, order: str) -> float:
    """Seconds for one epoch of batches of every window, in ``order``, with ``workers``
    DataLoader workers (0: in this process). As in training, the workers persist across
    epochs; the first epoch (workers starting, readers opening) is left out and the second
    timed."""
    import torch

    from datamodules.samplers import EpochSeededRandomSampler
    from datamodules.video_order import VideoOrderSampler

    if order == "by_video":
        sampler = VideoOrderSampler([w.video_index for w in dataset.windows], BATCH_SIZE, workers)
    else:
        sampler = EpochSeededRandomSampler(dataset)
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH_SIZE, sampler=sampler, num_workers=workers,
                                         persistent_workers=workers > 0)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        started = time.perf_counter()
        for _ in loader:
            pass
    return time.perf_counter() - started


def extraction_pipeline(paths: list[Path]) -> tuple[float, int, int]:
    from datamodules.extraction_data import VideoJob, VideoWindowSource

    windows = decoded = 0
    started = time.perf_counter()
    for path in paths:
        source = VideoWindowSource(VideoJob(path.name, path), WINDOW, STRIDE, COUNTS, FRAME_SIZE)
        for chunk in source:
            windows += len(chunk["starts"])
        decoded += source.frames_decoded
    return time.perf_counter() - started, windows, decoded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "decode_speed.json"))
    args = parser.parse_args()

    import torch

    from lightning_app.terminal import print_table

    torch.set_num_threads(1)  # per-core figures: resizing on one thread too
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_clips(Path(tmp), args.clips, args.size, args.seconds)
        floor_s, frames = floor_seconds(paths)
        floor2_s = floor_parallel_seconds(paths)
        by_video_scaling = by_video_parallel_scaling(paths)
        datasets = {"shuffled": window_items(paths), "by_video": window_items(paths, open_readers=BATCH_SIZE + 1)}
        windows = len(datasets["shuffled"])
        train = {order: {workers: training_pipeline(dataset, workers, order) for workers in (0, 1, 2)}
                 for order, dataset in datasets.items()}
        extract_s, extract_windows, extract_decoded = extraction_pipeline(paths)
    floor_wps = windows / floor_s
    results = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "clips": args.clips, "size": args.size, "seconds": args.seconds, "frames": frames, "windows": windows,
        "floor": {"seconds": floor_s, "frames_per_second": frames / floor_s, "windows_per_second": floor_wps},
        "floor_2_processes": {"seconds": floor2_s, "windows_per_second": windows / floor2_s, "scaling": floor_s / floor2_s},
        "by_video_2_independent_processes_scaling": by_video_scaling,
        "training": {order: {str(w): {"seconds": s, "windows_per_second": windows / s, "of_floor": windows / s / floor_wps}
                             for w, s in by_workers.items()} for order, by_workers in train.items()},
        "extraction": {"seconds": extract_s, "windows_per_second": extract_windows / extract_s,
                       "of_floor": extract_windows / extract_s / floor_wps, "frames_decoded": extract_decoded},
    }
    rows = [("floor: PyAV, every frame, 1 thread", f"{frames / floor_s:.0f} frames/s = {floor_wps:.1f} windows/s"),
            ("floor in 2 processes (this machine's own scaling)",
             f"{windows / floor2_s:.1f} windows/s ({floor_s / floor2_s:.2f}x one process)")]
    for order, by_workers in results["training"].items():
        for workers, value in by_workers.items():
            label = "in-process" if workers == "0" else f"DataLoader, {workers} worker(s)"
            rows.append((f"training pipeline, {order} order, {label}",
                         f"{value['windows_per_second']:.1f} windows/s ({value['of_floor']:.2f} of floor)"))
        by_workers["scaling_2_over_1_workers"] = by_workers["1"]["seconds"] / by_workers["2"]["seconds"]
        rows.append((f"training pipeline, {order} order, scaling 1 -> 2 workers",
                     f"{by_workers['scaling_2_over_1_workers']:.2f}x (the floor's: {floor_s / floor2_s:.2f}x)"))
    rows.append(("by_video pipeline in 2 independent processes, no DataLoader", f"{by_video_scaling:.2f}x one process"))
    rows.append(("extraction pipeline (sequential, once per clip)",
                 f"{results['extraction']['windows_per_second']:.1f} windows/s ({results['extraction']['of_floor']:.2f} of floor)"))
    print_table(f"decoding ({args.clips} clips, {args.size} px, {frames} frames, {windows} windows)", ("", "value"), rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
