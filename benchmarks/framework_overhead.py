"""Framework overhead: ``python -m lightning_app fit`` from the feature cache vs a bare PyTorch loop.

    python benchmarks/framework_overhead.py [--scale 10] [--epochs 4] [--out benchmarks/results/framework_overhead.json]

Both train the same fusion model (the demo config's: tiny-encoder feature sizes, hidden 64,
`input_norm: center`, focal loss, AdamW) on the same cached features of the same synthetic
videos (the demo's 40 clips times ``--scale``), batch size 8, same number of epochs and steps,
each in its own fresh Python process, ``--repeats`` times, interleaved. Time per step = wall time from the start of a training
epoch to the end of its last optimiser step, divided by its steps (loading, forward, backward,
optimiser, per-step hooks); the first epoch is warm-up and left out, the others' median is
reported (and the median over the repeats). The Lightning run is the shipped command line with the demo config, progress bar
and all; the bare loop has no logging, metrics, validation or checkpoints. Target: Lightning
at most 1.15x the bare loop. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import importlib
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

BATCH_SIZE = 8


def bare_loop(root: str, cache_dir: str, epochs: int) -> list[dict]:
    """Run in a subprocess: the hand-written loop. Returns per-epoch step timings."""
    import lightning.pytorch as pl
    import torch

    from lightning_app.cli import parse_config
    from models.lit_module import VideoFusionModule, encoder_specs

    config = parse_config(["fit", "--config", "demo.yaml", "--data.root", root, "--data.cache_dir", cache_dir])
    pl.seed_everything(config["seed_everything"], verbose=False)
    model_args = config["model"]
    module = VideoFusionModule(**model_args)
    model, task = module.model, module.task
    data_args = dict(config["data"]["init_args"], batch_size=BATCH_SIZE, use_cache="always", cache_dir=cache_dir,
                     encoders=encoder_specs(model_args["video_encoder"], model_args["clip_encoder"], model_args["captioner"]))
    module_name, class_name = config["data"]["class_path"].rsplit(".", 1)
    data = getattr(importlib.import_module(module_name), class_name)(**data_args)
    data.setup("fit")
    loader = torch.utils.data.DataLoader(data.datasets["train"], batch_size=BATCH_SIZE, shuffle=True, num_workers=0)
    optimiser = module.configure_optimizers()  # the same optimiser the Lightning run uses
    model.train()
    timings = []
    for epoch in range(epochs):
        started, steps = time.perf_counter(), 0
        for batch in loader:
            outputs = model(batch["features"])
            loss = task.loss(outputs, batch["target"])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            steps += 1
        seconds = time.perf_counter() - started
        timings.append({"epoch": epoch, "steps": steps, "seconds": seconds, "step_ms": 1000 * seconds / steps})
    return timings


def lightning_fit(root: Path, cache_dir: Path, epochs: int, run_dir: Path) -> tuple[list[dict], float]:
    command = [sys.executable, "-m", "lightning_app", "fit", "--config", "demo.yaml", "--data.root", str(root),
               "--data.cache_dir", str(cache_dir), "--data.use_cache", "always", "--data.batch_size", str(BATCH_SIZE),
               "--trainer.max_epochs", str(epochs), "--trainer.default_root_dir", str(run_dir),
               "--trainer.callbacks.patience", "1000", "--trainer.callbacks+=callbacks.TrainTimer"]
    started = time.perf_counter()
    out = subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out.returncode:
        raise SystemExit(f"lightning fit failed:\n{out.stderr[-3000:]}")
    wall = time.perf_counter() - started
    timing = json.loads(next(run_dir.rglob("timing.json")).read_text())
    return timing["epochs"], wall


def bare_subprocess(root: Path, cache_dir: Path, epochs: int) -> tuple[list[dict], float]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--bare", str(root), str(cache_dir), str(epochs)], cwd=REPO,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"bare loop failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def steady_step_ms(epochs: list[dict]) -> float:
    return statistics.median(e["step_ms"] for e in (epochs[1:] or epochs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=10, help="clips = 40 x scale")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, interleaved; medians are reported")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "framework_overhead.json"))
    parser.add_argument("--bare", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        print(json.dumps(bare_loop(args.bare[0], args.bare[1], int(args.bare[2]))))
        return

    from benchmarks.cache_speed import extract
    from datamodules.synthetic_videos import write_synthetic_dataset
    from lightning_app.provenance import environment
    from lightning_app.terminal import print_table

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = tmp / "demo"
        write_synthetic_dataset(root, num_clips=40 * args.scale, size=64, seed=0)
        summary = extract(root, tmp / "cache")
        runs: dict[str, list] = {"bare": [], "lightning": []}
        for repeat in range(args.repeats):  # interleaved, so that drifts in machine load hit both alike
            runs["bare"].append(bare_subprocess(root, tmp / "cache", args.epochs))
            runs["lightning"].append(lightning_fit(root, tmp / "cache", args.epochs, tmp / f"runs{repeat}"))
    results = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "packages": environment()["packages"]},
        "clips": 40 * args.scale, "windows": summary["windows"], "batch_size": BATCH_SIZE, "epochs": args.epochs,
        "repeats": args.repeats,
    }
    for name, done in runs.items():
        steps_ms = [steady_step_ms(epochs) for epochs, _ in done]
        results[name] = {"step_ms": statistics.median(steps_ms), "step_ms_per_run": steps_ms,
                         "process_wall_s": statistics.median(wall for _, wall in done), "epochs": [e for e, _ in done]}
    results["ratio"] = results["lightning"]["step_ms"] / results["bare"]["step_ms"]
    bare_wall, lightning_wall = results["bare"]["process_wall_s"], results["lightning"]["process_wall_s"]
    steps = runs["bare"][0][0][0]["steps"]
    print_table(f"framework overhead ({summary['windows']} cached windows, {steps} steps/epoch, CPU)", ("", "value"), [
        ("bare PyTorch loop, ms/step (median of runs)", f"{results['bare']['step_ms']:.2f}  "
         f"({', '.join(f'{v:.1f}' for v in results['bare']['step_ms_per_run'])})"),
        ("python -m lightning_app fit, ms/step", f"{results['lightning']['step_ms']:.2f}  "
         f"({', '.join(f'{v:.1f}' for v in results['lightning']['step_ms_per_run'])})"),
        ("ratio (target <= 1.15)", f"{results['ratio']:.3f}"),
        ("whole process, bare / lightning (s)", f"{bare_wall:.1f} / {lightning_wall:.1f}"),
    ])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
