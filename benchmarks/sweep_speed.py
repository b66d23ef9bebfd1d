"""Sweep throughput: trials per hour of ``python -m lightning_app sweep`` from a feature cache, with one sweep process
and with two sharing the study, and what that projects to for a DVD-size search.

    python benchmarks/sweep_speed.py [--out benchmarks/results/sweep_speed.json] [--trials 6] [--epochs 3]

The cache holds random features of the real encoders' sizes (video 768, image and text 512; 16 / 16 / 4 steps a
window) for synthetic clips (40 clips of 10 to 12 s, about 400 windows), so a trial trains the model ``dvd.yaml``
trains (hidden 128, its regularisers) at its real size. ``callbacks.TrainTimer`` gives each trial's milliseconds per
training step; the projection multiplies them out for DVD's about 84,000 windows (a fold trains on four fifths,
batch 8, 50 epochs), with validation counted at a third of a training step per batch (forward only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TINY = {"video": {"name": "videoprism-tiny", "seed": 0}, "clip": {"name": "clip-tiny", "seed": 0},
        "captioner": {"name": "blip-tiny", "seed": 0}}
REAL_DIMS = {"video": 768, "image": 512, "text": 512}
DVD_WINDOWS = 84_000


def write_real_size_cache(root: Path, cache_dir: Path) -> int:
    """Random features of the real encoders' sizes for every window of ``root``'s clips, under the key the tiny
    preset's datamodule computes (so ``fit`` reads them and sizes the model from them). Returns the window count."""
    import numpy as np

    from datamodules.dvd import read_manifest
    from datamodules.feature_cache import FeatureCache, key_content
    from datamodules.framing import resolve_framing
    from datamodules.video_io import probe_video
    from datamodules.windows import WindowSpec

    counts = {"video": 16, "image": 16, "text": 4}
    spec = WindowSpec(64, 32, counts, 32, resolve_framing("encoders", TINY))
    cache = FeatureCache(cache_dir, key_content(TINY, spec))
    cache.prepare()
    rng = np.random.default_rng(0)
    windows, names = 0, []
    for record in read_manifest(root / "manifest.csv", root):
        num_frames = probe_video(record.path).num_frames
        starts = np.asarray(spec.starts(num_frames))
        features = {s: rng.standard_normal((len(starts), counts[s], REAL_DIMS[s])).astype(np.float32) for s in counts}
        names.append(str(record.path.relative_to(root)))
        cache.write(names[-1], record.path, features, starts, np.minimum(starts + 64, num_frames), num_frames,
                    [["a caption"] * 4] * len(starts))
        windows += len(starts)
    cache.mark_complete(names)
    return windows


def sweep_file(path: Path) -> Path:
    path.write_text("name: speed\nmethod: random\nmetric: {name: val/loss, goal: minimize}\nparameters:\n"
                    "  model.lr: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-3}\n"
                    "  model.dropout: {values: [0.0, 0.1, 0.3]}\n")
    return path


def run_sweep(root: Path, cache: Path, runs: Path, sweep: Path, trials: int, epochs: int, workers: int) -> dict:
    command = [sys.executable, "-m", "lightning_app", "sweep", "--config", "dvd.yaml", "--config", "presets/tiny.yaml",
               "--data", "datamodules.dvd.DVDDataModule", "--data.root", str(root), "--data.cache_dir", str(cache),
               "--data.num_workers", "0", "--model.hidden_dim", "128", "--trainer.max_epochs", str(epochs),
               "--trainer.accelerator", "cpu", "--trainer.logger", "false", "--trainer.default_root_dir", str(runs),
               "--trainer.enable_progress_bar", "false", "--trainer.callbacks+=callbacks.TrainTimer",
               "--sweep", str(sweep), "--trials", str(trials), "--pruner", "none"]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    started = time.monotonic()
    processes = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True) for _ in range(workers)]
    errors = [p.communicate()[1] for p in processes]
    seconds = time.monotonic() - started
    if any(p.returncode for p in processes):
        raise RuntimeError("\n".join(e[-2000:] for e in errors))
    steps = [epoch["step_ms_median"] for timing in (runs / "sweeps" / "speed").glob("trial_*/**/timing.json")
             for epoch in json.loads(timing.read_text())["epochs"][1:]]
    return {"workers": workers, "trials": trials, "seconds": round(seconds, 1),
            "trials_per_hour": round(trials * 3600 / seconds, 1), "step_ms_median": round(statistics.median(steps), 2)}


def project(step_ms: float, trials: int = 50, folds: int = 5, epochs: int = 50, batch: int = 8) -> dict:
    """Hours of a DVD-size search at ``step_ms`` a training step, one trial at a time."""
    train_steps = DVD_WINDOWS * 4 / 5 / batch
    val_steps = DVD_WINDOWS / 5 / batch
    trial_hours = epochs * (train_steps + val_steps / 3) * step_ms / 3.6e6
    return {"step_ms": step_ms, "hours_per_fold_fit": round(trial_hours, 2),
            "hours_50_trials": round(trial_hours * trials, 1), "hours_50_trials_5_folds": round(trial_hours * trials * folds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "sweep_speed.json"))
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    from datamodules.synthetic_videos import write_synthetic_dataset

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_synthetic_dataset(tmp / "clips", num_clips=40, size=32, min_seconds=10, max_seconds=12)
        windows = write_real_size_cache(tmp / "clips", tmp / "cache")
        sweep = sweep_file(tmp / "speed.yaml")
        runs = [run_sweep(tmp / "clips", tmp / "cache", tmp / f"runs_{w}", sweep, args.trials, args.epochs, w)
                for w in (1, 2)]
    one = runs[0]
    result = {"machine": f"{os.cpu_count()} CPUs", "windows": windows, "epochs": args.epochs, "runs": runs,
              "projection_this_machine": project(one["step_ms_median"]),
              # measured earlier on an H100 (benchmarks/README.md, "GPU": fit from the cache, batch 8, 15-17 ms)
              "projection_h100_measured_step": project(16.0)}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
