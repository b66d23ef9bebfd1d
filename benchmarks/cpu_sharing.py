"""Sharing the CPU: does a command slow down in proportion to its share of the cores when other
PyTorch processes run beside it?

    python benchmarks/cpu_sharing.py [--repeats 2] [--out benchmarks/results/cpu_sharing.json]

Each figure comes from ``python -m lightning_app`` run as users run it, on the demo's 40 clips
(tiny encoders), under two OpenMP wait policies:

* ``libgomp default``: ``OMP_WAIT_POLICY`` set but empty, which libgomp ignores: idle
  intra-op threads spin for a while before they sleep (the behaviour before the project set
  a policy);
* ``project``: the variable unset, so ``python -m lightning_app`` sets ``PASSIVE``: idle
  threads sleep at once.

Rows:

* ``extract`` encode seconds (the table's ``encode``: the encoders' own time), alone; beside a
  busy PyTorch process (small matrix products in a loop, torch's default threads) whose policy
  is libgomp's default; and beside one with ``PASSIVE`` too.
* ``fit`` (3 epochs, the first left out) median training-epoch seconds (``TrainTimer``) on 1
  process and on 2 CPU DDP ranks (``--trainer.strategy ddp``; Lightning gives each rank
  cores / ranks threads).

The median over ``--repeats`` runs is reported; the policies alternate run by run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUSY = """
import time, torch
a = torch.randn(64, 64)
print("ready", flush=True)
while True:
    for _ in range(1000):
        a @ a
"""
POLICIES = {"libgomp default": "", "project": None}  # None: unset, the entry point sets PASSIVE


def _env(policy: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    return env


def _app(args: list[str], policy: str | None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "lightning_app", *args], cwd=REPO, env=_env(policy),
                            capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"lightning_app {args[0]} failed:\n{result.stderr[-3000:]}")
    return result


class Busy:
    """A PyTorch process doing small matrix products until stopped, with ``policy``."""

    def __init__(self, policy: str | None):
        self.policy = policy

    def __enter__(self):
        env = _env(self.policy if self.policy is not None else "PASSIVE")
        self.process = subprocess.Popen([sys.executable, "-c", BUSY], env=env, stdout=subprocess.PIPE, text=True)
        self.process.stdout.readline()  # torch imported, the loop starting
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def extract_encode_seconds(data: Path, work: Path, policy: str | None) -> float:
    cache = Path(tempfile.mkdtemp(dir=work))
    result = _app(["extract", "--config", "demo.yaml", "--data.root", str(data), "--data.num_workers", "0",
                   "--data.cache_dir", str(cache), "--trainer.enable_progress_bar", "false",
                   "--trainer.default_root_dir", str(work / "runs")], policy)
    return float(re.search(r"encode ([0-9.]+)s", result.stdout).group(1))


def fit_epoch_seconds(data: Path, work: Path, policy: str | None, ranks: int) -> float:
    root = Path(tempfile.mkdtemp(dir=work))
    _app(["fit", "--config", "demo.yaml", "--data.root", str(data), "--data.num_workers", "0",
          "--trainer.max_epochs", "3", "--trainer.devices", str(ranks), "--trainer.enable_progress_bar", "false",
          *(["--trainer.strategy", "ddp"] if ranks > 1 else []), "--trainer.callbacks+=callbacks.TrainTimer",
          "--trainer.default_root_dir", str(root)], policy)
    epochs = json.loads(next(root.rglob("timing.json")).read_text())["epochs"]
    return statistics.median(e["seconds"] for e in epochs[1:])


def measure(repeats: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="cpu_sharing_"))
    data = work / "demo"  # the demo datamodule writes its 40 clips there on first use
    cases = {
        "extract encode s, alone": lambda p: extract_encode_seconds(data, work, p),
        "extract encode s, beside a busy process (libgomp default)": lambda p: _beside("", lambda: extract_encode_seconds(data, work, p)),
        "extract encode s, beside a busy process (PASSIVE)": lambda p: _beside("PASSIVE", lambda: extract_encode_seconds(data, work, p)),
        "fit epoch s, 1 process": lambda p: fit_epoch_seconds(data, work, p, 1),
        "fit epoch s, 2 DDP ranks": lambda p: fit_epoch_seconds(data, work, p, 2),
    }
    results: dict[str, dict[str, list[float]]] = {case: {name: [] for name in POLICIES} for case in cases}
    for case, run in cases.items():
        for _ in range(repeats):
            for name, policy in POLICIES.items():
                results[case][name].append(run(policy))
    return {"repeats": repeats, "cpus": os.cpu_count(), "runs": results,
            "median": {case: {name: statistics.median(v) for name, v in row.items()} for case, row in results.items()}}


def _beside(policy: str, run):
    with Busy(policy):
        return run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "cpu_sharing.json"))
    args = parser.parse_args()
    report = measure(args.repeats)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"| case (median of {args.repeats}) | " + " | ".join(POLICIES) + " |")
    print("|---|" + "---|" * len(POLICIES))
    for case, row in report["median"].items():
        print(f"| {case} | " + " | ".join(f"{row[name]:.2f}" for name in POLICIES) + " |")


if __name__ == "__main__":
    main()
