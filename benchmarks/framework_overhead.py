"""Framework overhead: ``python -m lightning_app fit`` from the feature cache vs a bare PyTorch loop.

    python benchmarks/framework_overhead.py [--scale 10] [--epochs 6] [--repeats 5] [--out benchmarks/results/framework_overhead.json]

Both train the same fusion model (the demo config's: tiny-encoder feature sizes, hidden 64,
`input_norm: center`, focal loss, AdamW) on the same cached features of the same synthetic
videos (the demo's 40 clips times ``--scale``) through the same DataLoader (the datamodule's),
batch size 8, same number of epochs and steps, each in its own fresh Python process,
``--repeats`` pairs of runs. The Lightning run is the shipped command line with the demo
config, progress bar, CSV logger, checkpoints, validation and all; the bare loop has no logging,
metrics, validation or checkpoints.

The two processes of a pair run at the same time but take turns, one epoch each
(``benchmarks/turns.py``): this machine's speed drifts by 20-30 % within a minute, and
alternating epochs a few seconds apart makes the drift hit both sides alike. A step's time is
from the end of one optimiser step to the end of the next (loading, forward, backward,
optimiser, per-step hooks; not the validation or checkpointing between epochs). Each epoch is
summarised by its mean and its median step time; the first epoch is warm-up and left out.
Reported: the ratio of the runs' mean step times (median over runs), and, the headline, each
steady Lightning epoch's median step time over the bare epoch of the turn before it, as the
median of all these pairs. Target: Lightning at most 1.15x the bare loop. Prints a table and
writes JSON.
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

    from benchmarks.turns import FIRST, Turns
    from lightning_app.cli import parse_config
    from models.lit_module import VideoFusionModule, encoder_specs

    config = parse_config(["fit", "--config", "demo.yaml", "--data.root", root, "--data.cache_dir", cache_dir])
    pl.seed_everything(config["seed_everything"], verbose=False)
    model_args = config["model"]
    data_args = dict(config["data"]["init_args"], batch_size=BATCH_SIZE, use_cache="always", cache_dir=cache_dir,
                     encoders=encoder_specs(model_args["video_encoder"], model_args["clip_encoder"], model_args["captioner"]))
    module_name, class_name = config["data"]["class_path"].rsplit(".", 1)
    data = getattr(importlib.import_module(module_name), class_name)(**data_args)
    data.setup("fit")
    # as the command line does: the feature sizes come from the cache and no encoder is built
    module = VideoFusionModule(**model_args, feature_dims=data.cached_feature_dims())
    model, task = module.model, module.task
    loader = data.train_dataloader()  # the very loader the Lightning run gets: same sampler and settings
    optimiser = module.configure_optimizers()  # the same optimiser the Lightning run uses
    model.train()
    timings, turns = [], Turns(FIRST)
    for epoch in range(epochs):
        turns.start(epoch)
        loader.sampler.set_epoch(epoch)  # as Lightning does
        started = last = time.perf_counter()
        step_seconds = []
        for batch in loader:
            outputs = model(batch["features"])
            loss = task.loss(outputs, batch["target"])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            now = time.perf_counter()
            step_seconds.append(now - last)
            last = now
        seconds, steps = last - started, len(step_seconds)
        timings.append({"epoch": epoch, "steps": steps, "seconds": seconds, "step_ms": 1000 * seconds / steps,
                        "step_ms_median": 1000 * statistics.median(step_seconds)})
    turns.end(epochs)
    return timings


def lightning_command(root: Path, cache_dir: Path, epochs: int, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "lightning_app", "fit", "--config", "demo.yaml", "--data.root", str(root),
            "--data.cache_dir", str(cache_dir), "--data.use_cache", "always", "--data.batch_size", str(BATCH_SIZE),
            "--trainer.max_epochs", str(epochs), "--trainer.default_root_dir", str(run_dir),
            "--trainer.callbacks.patience", "1000",
            # TakeTurns before TrainTimer: the waiting for its turn is not timed
            "--trainer.callbacks+=benchmarks.turns.TakeTurns", "--trainer.callbacks+=callbacks.TrainTimer"]


def run_pair(root: Path, cache_dir: Path, epochs: int, run_dir: Path) -> dict[str, list[dict]]:
    """The bare loop and ``lightning_app fit`` in two processes taking turns, epoch by epoch.
    Returns each side's per-epoch timings."""
    from benchmarks.turns import TURNS_DIR

    turns_dir = run_dir / "turns"
    turns_dir.mkdir(parents=True)
    env = dict(os.environ, **{TURNS_DIR: str(turns_dir)})
    commands = {"bare": [sys.executable, __file__, "--bare", str(root), str(cache_dir), str(epochs)],
                "lightning": lightning_command(root, cache_dir, epochs, run_dir)}
    processes = {name: subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True) for name, command in commands.items()}
    results = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate()
        if process.returncode:
            for other in processes.values():
                other.kill()
            raise SystemExit(f"{name} run failed:\n{stderr[-3000:]}")
        if name == "bare":
            results[name] = json.loads(stdout.strip().splitlines()[-1])
        else:
            results[name] = json.loads(next(run_dir.rglob("timing.json")).read_text())["epochs"]
    return results


def steady_step_ms(epochs: list[dict]) -> float:
    return statistics.median(e["step_ms"] for e in (epochs[1:] or epochs))


def paired_ratios(bare: list[dict], lightning: list[dict], key: str = "step_ms") -> list[float]:
    """Each steady Lightning epoch's step time over that of the bare epoch run just before it."""
    pairs = list(zip(bare, lightning))[1:] or list(zip(bare, lightning))
    return [lit[key] / own[key] for own, lit in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=10, help="clips = 40 x scale")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3, help="pairs of runs; medians are reported")
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
        for repeat in range(args.repeats):
            for name, result in run_pair(root, tmp / "cache", args.epochs, tmp / f"runs{repeat}").items():
                runs[name].append(result)
    results = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "packages": environment()["packages"]},
        "clips": 40 * args.scale, "windows": summary["windows"], "batch_size": BATCH_SIZE, "epochs": args.epochs,
        "repeats": args.repeats,
    }
    for name, done in runs.items():
        steps_ms = [steady_step_ms(epochs) for epochs in done]
        results[name] = {"step_ms": statistics.median(steps_ms), "step_ms_per_run": steps_ms,
                         "epochs": done}
    results["ratio"] = results["lightning"]["step_ms"] / results["bare"]["step_ms"]
    # the headline: every steady Lightning epoch against the bare epoch of the turn before it,
    # each side's epoch summarised by its median step (a burst of load on the machine moves it
    # less than the mean), the median over all these pairs
    pooled = [r for own, lit in zip(runs["bare"], runs["lightning"]) for r in paired_ratios(own, lit, "step_ms_median")]
    results["paired_median_step_ratio"] = statistics.median(pooled)
    results["paired_median_step_ratios"] = pooled
    results["paired_mean_step_ratio"] = statistics.median(
        r for own, lit in zip(runs["bare"], runs["lightning"]) for r in paired_ratios(own, lit, "step_ms"))
    steps = runs["bare"][0][0]["steps"]
    print_table(f"framework overhead ({summary['windows']} cached windows, {steps} steps/epoch, CPU)", ("", "value"), [
        ("bare PyTorch loop, ms/step (median of runs)", f"{results['bare']['step_ms']:.2f}  "
         f"({', '.join(f'{v:.1f}' for v in results['bare']['step_ms_per_run'])})"),
        ("python -m lightning_app fit, ms/step", f"{results['lightning']['step_ms']:.2f}  "
         f"({', '.join(f'{v:.1f}' for v in results['lightning']['step_ms_per_run'])})"),
        ("ratio of the runs' mean step times", f"{results['ratio']:.3f}"),
        ("paired epochs, ratio of mean step times (median of pairs)", f"{results['paired_mean_step_ratio']:.3f}"),
        (f"paired epochs, ratio of median step times (median of {len(pooled)} pairs; target <= 1.15)",
         f"{results['paired_median_step_ratio']:.3f}"),
    ])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
