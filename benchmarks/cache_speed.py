"""Feature cache benchmark: training epochs with the encoders in the loop vs from the cache,
extraction throughput (2 decoding workers, as demo.yaml sets) and where the encoders' loop
spends its time, and epoch times and peak resident memory of
training with encoders in the loop and from the cache, at 1x and 10x the demo's size (each
in a fresh process), plus the peak memory of reading caches of 1x and 10x the windows.

    python benchmarks/cache_speed.py [--out benchmarks/results/cache_speed.json] [--epochs 3]

Tiny preset, demo data (40 clips of 64x64, written to a temporary folder); epochs with the
encoders in the loop use 2 DataLoader workers (decoding in parallel), epochs from the cache
read in-process (``cache_num_workers`` 0, the default). Also measured: the floor under a
cached epoch, the fusion model's own optimisation step (forward, backward, AdamW) in a bare
PyTorch loop. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TINY = {"video": {"name": "videoprism-tiny", "seed": 0}, "clip": {"name": "clip-tiny", "seed": 0},
        "captioner": {"name": "blip-tiny", "seed": 0}}


class EpochTimer:
    """Wall time of every training epoch."""

    def __new__(cls):
        import lightning.pytorch as pl

        class _Timer(pl.Callback):
            def __init__(self):
                self.seconds = []

            def on_train_epoch_start(self, trainer, pl_module):
                self._start = time.perf_counter()

            def on_train_epoch_end(self, trainer, pl_module):
                self.seconds.append(time.perf_counter() - self._start)

        return _Timer()


def model_step_ms(steps: int = 50) -> float:
    """A bare PyTorch optimisation step of the fusion model on a demo-sized batch."""
    import torch

    from models.fusion_model import StreamFusionModel
    from models.tasks import ViolenceTask

    torch.manual_seed(0)
    model = StreamFusionModel({"video": 32, "image": 32, "text": 32}, hidden_dim=64, input_norm="center")
    optimiser = torch.optim.AdamW(model.parameters(), 3e-4, fused=True)  # as VideoFusionModule
    features = {"video": torch.randn(8, 16, 32), "image": torch.randn(8, 16, 32), "text": torch.randn(8, 4, 32)}
    targets, task = torch.randint(0, 2, (8, 1)).float(), ViolenceTask(0.5, 2.0)
    for step in range(steps + 5):
        if step == 5:
            started = time.perf_counter()
        task.loss(model(features), targets).backward()
        optimiser.step()
        optimiser.zero_grad()
    return (time.perf_counter() - started) / steps * 1000


def _datamodule(root: Path, cache_dir: Path, use_cache: str, num_workers: int = 2):
    from datamodules.dvd import DVDDataModule

    return DVDDataModule(str(root), frame_size=32, batch_size=8, num_workers=num_workers, encoders=TINY,
                         cache_dir=str(cache_dir), use_cache=use_cache)


def time_epochs(root: Path, cache_dir: Path, use_cache: str, epochs: int) -> list[float]:
    import lightning.pytorch as pl

    from models.lit_module import VideoFusionModule

    pl.seed_everything(0, verbose=False)
    datamodule = _datamodule(root, cache_dir, use_cache)
    # as the command line does: from a complete cache the model builds no encoder
    model = VideoFusionModule(video_encoder=TINY["video"], clip_encoder=TINY["clip"], captioner=TINY["captioner"],
                              hidden_dim=64, input_norm="center", feature_dims=datamodule.cached_feature_dims())
    timer = EpochTimer()
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=epochs, limit_val_batches=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[timer])
    trainer.fit(model, datamodule=datamodule)
    return timer.seconds


def epochs_child(root: str, cache_dir: str, use_cache: str, epochs: int) -> None:
    """Run in a subprocess: train ``epochs`` epochs, print their times and the process's peak RSS."""
    seconds = time_epochs(Path(root), Path(cache_dir), use_cache, epochs)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": _peak_rss_mb()}))


def measure_epochs(root: Path, cache_dir: Path, use_cache: str, epochs: int) -> dict:
    """Epoch times and peak RSS of a fresh process training from ``root`` (cache or encoders)."""
    out = subprocess.run([sys.executable, __file__, "--epochs-child", str(root), str(cache_dir), use_cache, str(epochs)],
                         capture_output=True, text=True, cwd=REPO)
    if out.returncode:
        raise SystemExit(f"training child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(cache_videos_dir: str) -> None:
    """Run in a subprocess: read every window of every cache file once, as training does,
    and print peak RSS before and after, and the time per window: file after file, then
    every window again in a seeded random order (training's order, across files)."""
    import random

    from datamodules.feature_cache import CachedFeatureReader, read_index

    files = sorted(Path(cache_videos_dir).glob("*.safetensors"))
    reader = CachedFeatureReader()
    reader.window(files[0], 0)  # torch, which the reader hands tensors of, imported before timing
    windows = [(path, row) for path in files for row in range(len(read_index(path)[1]))]
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    for path, row in windows:
        reader.window(path, row)
    in_order = (time.perf_counter() - started) / len(windows) * 1e6
    random.Random(0).shuffle(windows)
    started = time.perf_counter()
    for path, row in windows:
        reader.window(path, row)
    shuffled = (time.perf_counter() - started) / len(windows) * 1e6
    print(json.dumps({"windows": len(windows), "baseline_peak_rss_mb": baseline, "peak_rss_mb": _peak_rss_mb(),
                      "read_us_per_window": in_order, "read_us_per_window_shuffled": shuffled}))


def measure_rss(cache_videos_dir: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--rss-child", str(cache_videos_dir)],
                         capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_real_size_cache(directory: Path, videos: int, windows_per_video: int = 100) -> Path:
    """A cache of random 768-d features, the size VideoPrism-B / CLIP-B give, for the memory test."""
    import numpy as np

    from datamodules.feature_cache import FeatureCache, key_content
    from datamodules.windows import WindowSpec

    cache = FeatureCache(directory, key_content(TINY, WindowSpec(64, 32, {"video": 16, "image": 16, "text": 4}, 288)))
    cache.prepare()
    rng = np.random.default_rng(0)
    source = directory / "source.mp4"
    source.write_bytes(b"x")
    for index in range(videos):
        features = {name: rng.standard_normal((windows_per_video, steps, 768), dtype=np.float32)
                    for name, steps in (("video", 16), ("image", 16), ("text", 4))}
        cache.write(f"v{index}.mp4", source, features, np.arange(windows_per_video), np.arange(windows_per_video) + 64,
                    10_000, [[""] * 4] * windows_per_video)
    return cache.videos_dir


def extract(root: Path, cache_dir: Path) -> dict:
    from lightning_app.extract import run_extract

    started = time.perf_counter()
    summary = run_extract(["--config", "demo.yaml", "--config", "presets/tiny.yaml", "--data.root", str(root),
                           "--data.cache_dir", str(cache_dir), "--trainer.enable_progress_bar", "false",
                           "--trainer.logger", "false"])
    summary["wall_seconds"] = time.perf_counter() - started
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "cache_speed.json"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    parser.add_argument("--epochs-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    if args.epochs_child:
        epochs_child(*args.epochs_child[:3], int(args.epochs_child[3]))
        return

    from datamodules.synthetic_videos import write_synthetic_dataset
    from lightning_app.terminal import print_table

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root, root10 = tmp / "demo", tmp / "demo10"
        write_synthetic_dataset(root, num_clips=40, size=64, seed=0)
        write_synthetic_dataset(root10, num_clips=400, size=64, seed=0)
        summary = extract(root, tmp / "cache")
        results["extract"] = {k: summary[k] for k in ("videos", "windows", "frames_decoded", "seconds", "wall_seconds")}
        # the main process's loop: encoding, writing, and waiting for frames; decoding runs
        # beside it in the DataLoader workers (its seconds are theirs, summed)
        seconds = summary["seconds"]
        loop = seconds["encode"] + seconds["write"] + seconds["wait_for_frames"]
        results["extract"]["windows_per_second"] = summary["windows"] / loop
        results["extract"]["share"] = {k: seconds[k] / loop for k in ("encode", "write", "wait_for_frames")}
        # each configuration trains in a fresh process: its epoch times and its peak RSS
        runs = {"1x": {"in_loop": measure_epochs(root, tmp / "cache", "never", args.epochs),
                       "cached": measure_epochs(root, tmp / "cache", "always", args.epochs)}}
        summary10 = extract(root10, tmp / "cache10")
        results["extract_10x"] = {k: summary10[k] for k in ("videos", "windows", "wall_seconds")}
        runs["10x"] = {"in_loop": measure_epochs(root10, tmp / "cache10", "never", 2),
                       "cached": measure_epochs(root10, tmp / "cache10", "always", 2)}
        # the first epoch includes DataLoader worker start-up: compare the steady epochs
        results["training"] = runs
        for scale, pair in runs.items():
            pair["speedup"] = min(pair["in_loop"]["seconds"][1:]) / min(pair["cached"]["seconds"][1:])
        results["epoch_seconds"] = {"in_loop": runs["1x"]["in_loop"]["seconds"], "cached": runs["1x"]["cached"]["seconds"]}
        results["speedup"] = runs["1x"]["speedup"]
        results["model_step_ms"] = model_step_ms()
        results["rss"] = {
            "demo_1x": measure_rss(Path(summary["cache"]) / "videos"),
            "demo_10x": measure_rss(Path(summary10["cache"]) / "videos"),
            "real_size_1x": measure_rss(write_real_size_cache(tmp / "real1", videos=10)),
            "real_size_10x": measure_rss(write_real_size_cache(tmp / "real10", videos=100)),
        }

    rows = []
    for scale, pair in results["training"].items():
        rows += [
            (f"{scale}: epoch with encoders in the loop (s), peak RSS",
             f"{min(pair['in_loop']['seconds'][1:]):.3f}, {pair['in_loop']['peak_rss_mb']:.0f} MB"),
            (f"{scale}: epoch from the cache (s), peak RSS",
             f"{min(pair['cached']['seconds'][1:]):.4f}, {pair['cached']['peak_rss_mb']:.0f} MB"),
            (f"{scale}: speed-up", f"{pair['speedup']:.1f}x"),
        ]
    rows += [
        ("bare fusion-model step (ms), floor of a cached step", f"{results['model_step_ms']:.1f}"),
        ("extraction throughput (windows/s)", f"{results['extract']['windows_per_second']:.1f}"),
        ("extraction: the encoders' loop split", ", ".join(f"{k} {v:.0%}" for k, v in results["extract"]["share"].items())),
        ("extraction: decoding in 2 workers (worker-seconds)", f"{results['extract']['seconds']['decode']:.2f}"),
    ]
    for name, rss in results["rss"].items():
        rows.append((f"peak RSS reading {name} ({rss['windows']} windows, twice), time per window",
                     f"{rss['peak_rss_mb']:.0f} MB (before reading {rss['baseline_peak_rss_mb']:.0f} MB), "
                     f"{rss['read_us_per_window']:.0f} us in file order, "
                     f"{rss['read_us_per_window_shuffled']:.0f} us shuffled"))
    print_table("feature cache benchmark (tiny preset, CPU)", ("measure", "value"), rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
