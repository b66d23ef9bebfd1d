"""Framework overhead: ``python -m lightning_app fit`` from the feature cache vs a bare PyTorch loop.

    python benchmarks/framework_overhead.py [--scale 10] [--epochs 6] [--repeats 5] [--steps-per-turn 10]
                                            [--out benchmarks/results/framework_overhead.json]

Both train the same fusion model (the demo config's: tiny-encoder feature sizes, hidden 64,
`input_norm: center`, focal loss, AdamW) on the same cached features of the same synthetic
videos (the demo's 40 clips times ``--scale``) through the same DataLoader (the datamodule's),
batch size 8, same number of epochs and steps, each in its own fresh Python process,
``--repeats`` pairs of runs. The Lightning run is the shipped command line with the demo
config, progress bar, CSV logger, checkpoints, validation and all; the bare loop has no logging,
metrics, validation or checkpoints.

The two processes of a pair run at the same time but take turns of ``--steps-per-turn``
training steps (``benchmarks/turns.py``): this machine's speed drifts by 20-30 % within
seconds, and turns a fraction of a second long make the drift hit both sides alike. A step's
time is from the end of one optimiser step to the end of the next (loading, forward, backward,
optimiser, per-step hooks; not the waiting for a turn, nor the validation or checkpointing
between epochs). The first epoch is warm-up and left out. Reported: each side's mean step time
(median over runs); the ratio of median step times in each pair of turns (a Lightning turn
against the bare turn just before it), as the median of all these pairs with its quartiles,
the headline; and, as before turns were this short, the same paired by whole epochs. Target:
Lightning at most 1.15x the bare loop. Prints a table and writes JSON.
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BATCH_SIZE = 8


def bare_loop(root: str, cache_dir: str, epochs: int, steps_per_turn: int) -> list[dict]:
    """Run in a subprocess: the hand-written loop. Returns one timing record per step."""
    import lightning.pytorch as pl

    from benchmarks.turns import FIRST, TurnClock
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
    clock = TurnClock(FIRST, steps_per_turn)
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)  # as Lightning does
        clock.epoch_start(epoch)
        for batch_idx, batch in enumerate(loader):
            outputs = model(batch["features"])
            loss = task.loss(outputs, batch["target"])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            clock.step_end(batch_idx, len(loader))
    clock.end()
    return clock.records


def lightning_command(root: Path, cache_dir: Path, epochs: int, run_dir: Path, steps_per_turn: int) -> list[str]:
    return [sys.executable, "-m", "lightning_app", "fit", "--config", "demo.yaml", "--data.root", str(root),
            "--data.cache_dir", str(cache_dir), "--data.use_cache", "always", "--data.batch_size", str(BATCH_SIZE),
            "--trainer.max_epochs", str(epochs), "--trainer.default_root_dir", str(run_dir),
            "--trainer.callbacks.patience", "1000",
            # takes turns and times the steps (no other timing callback)
            "--trainer.callbacks+=benchmarks.turns.TakeTurns", "--trainer.callbacks.steps_per_turn", str(steps_per_turn)]


def run_pair(root: Path, cache_dir: Path, epochs: int, run_dir: Path, steps_per_turn: int) -> dict[str, list[dict]]:
    """The bare loop and ``lightning_app fit`` in two processes taking turns. Returns each
    side's step records."""
    from benchmarks.turns import SECOND, STEPS_NAME, TURNS_DIR

    turns_dir = run_dir / "turns"
    turns_dir.mkdir(parents=True)
    env = dict(os.environ, **{TURNS_DIR: str(turns_dir)})
    commands = {"bare": [sys.executable, __file__, "--bare", str(root), str(cache_dir), str(epochs), str(steps_per_turn)],
                "lightning": lightning_command(root, cache_dir, epochs, run_dir, steps_per_turn)}
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
            results[name] = json.loads((turns_dir / STEPS_NAME.format(side=SECOND)).read_text())
    return results


def epoch_summaries(records: list[dict]) -> list[dict]:
    """Per epoch: steps, seconds (the sum of its step times), mean and median step time in ms."""
    summaries = []
    for epoch in sorted({r["epoch"] for r in records}):
        seconds = [r["seconds"] for r in records if r["epoch"] == epoch]
        summaries.append({"epoch": epoch, "steps": len(seconds), "seconds": sum(seconds),
                          "step_ms": 1000 * sum(seconds) / len(seconds),
                          "step_ms_median": 1000 * statistics.median(seconds)})
    return summaries


def steady_step_ms(epochs: list[dict]) -> float:
    return statistics.median(e["step_ms"] for e in (epochs[1:] or epochs))


def paired_ratios(bare: list[dict], lightning: list[dict], key: str = "step_ms") -> list[float]:
    """Each steady Lightning epoch's step time over that of the bare epoch run alongside it."""
    pairs = list(zip(bare, lightning))[1:] or list(zip(bare, lightning))
    return [lit[key] / own[key] for own, lit in pairs]


def paired_turn_ratios(bare: list[dict], lightning: list[dict]) -> list[float]:
    """For each turn after the first epoch: the Lightning turn's median step time over that of
    the bare turn run just before it."""
    def medians(records):
        first_epoch = min(r["epoch"] for r in records)
        turns: dict[int, list[float]] = {}
        for r in records:
            if r["epoch"] > first_epoch:
                turns.setdefault(r["turn"], []).append(r["seconds"])
        return {turn: statistics.median(seconds) for turn, seconds in turns.items()}

    own, lit = medians(bare), medians(lightning)
    if own.keys() != lit.keys():
        raise ValueError(f"the two sides ran different turns: {sorted(own)} and {sorted(lit)}")
    return [lit[turn] / own[turn] for turn in sorted(own)]


def quartiles(values: list[float]) -> tuple[float, float, float]:
    low, median, high = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return low, median, high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=10, help="clips = 40 x scale")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3, help="pairs of runs; medians are reported")
    parser.add_argument("--steps-per-turn", type=int, default=10, help="training steps in each turn of a side")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "framework_overhead.json"))
    parser.add_argument("--bare", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        print(json.dumps(bare_loop(args.bare[0], args.bare[1], int(args.bare[2]), int(args.bare[3]))))
        return

    from benchmarks.cache_speed import extract
    from datamodules.synthetic_videos import write_synthetic_dataset
    from callbacks.provenance import environment
    from lightning_app.terminal import print_table

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = tmp / "demo"
        write_synthetic_dataset(root, num_clips=40 * args.scale, size=64, seed=0)
        summary = extract(root, tmp / "cache")
        runs: dict[str, list] = {"bare": [], "lightning": []}
        for repeat in range(args.repeats):
            for name, records in run_pair(root, tmp / "cache", args.epochs, tmp / f"runs{repeat}",
                                          args.steps_per_turn).items():
                runs[name].append(records)
    results = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "packages": environment()["packages"]},
        "clips": 40 * args.scale, "windows": summary["windows"], "batch_size": BATCH_SIZE, "epochs": args.epochs,
        "repeats": args.repeats, "steps_per_turn": args.steps_per_turn,
    }
    epochs = {name: [epoch_summaries(records) for records in done] for name, done in runs.items()}
    for name, done in epochs.items():
        steps_ms = [steady_step_ms(run) for run in done]
        results[name] = {"step_ms": statistics.median(steps_ms), "step_ms_per_run": steps_ms, "epochs": done}
    results["ratio"] = results["lightning"]["step_ms"] / results["bare"]["step_ms"]
    # the headline: every steady Lightning turn against the bare turn just before it, each turn
    # summarised by its median step (a burst of load on the machine moves it less than the
    # mean), the median over all these pairs
    turn_ratios = [r for own, lit in zip(runs["bare"], runs["lightning"]) for r in paired_turn_ratios(own, lit)]
    low, median, high = quartiles(turn_ratios)
    results.update(paired_turn_ratio=median, paired_turn_quartiles=[low, high], paired_turn_ratios=turn_ratios)
    pairs = list(zip(epochs["bare"], epochs["lightning"]))
    results["paired_epoch_median_step_ratio"] = statistics.median(
        r for own, lit in pairs for r in paired_ratios(own, lit, "step_ms_median"))
    results["paired_epoch_mean_step_ratio"] = statistics.median(
        r for own, lit in pairs for r in paired_ratios(own, lit, "step_ms"))
    steps = epochs["bare"][0][0]["steps"]
    print_table(f"framework overhead ({summary['windows']} cached windows, {steps} steps/epoch, CPU)", ("", "value"), [
        ("bare PyTorch loop, ms/step (median of runs)", f"{results['bare']['step_ms']:.2f}  "
         f"({', '.join(f'{v:.1f}' for v in results['bare']['step_ms_per_run'])})"),
        ("python -m lightning_app fit, ms/step", f"{results['lightning']['step_ms']:.2f}  "
         f"({', '.join(f'{v:.1f}' for v in results['lightning']['step_ms_per_run'])})"),
        ("ratio of the runs' mean step times", f"{results['ratio']:.3f}"),
        ("paired epochs, ratio of mean step times (median of pairs)", f"{results['paired_epoch_mean_step_ratio']:.3f}"),
        ("paired epochs, ratio of median step times (median of pairs)",
         f"{results['paired_epoch_median_step_ratio']:.3f}"),
        (f"paired turns of {args.steps_per_turn} steps, ratio of median step times "
         f"(median of {len(turn_ratios)} pairs, quartiles; target <= 1.15)",
         f"{median:.3f}  ({low:.3f} to {high:.3f})"),
    ])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
