"""``python -m lightning_app SUBCOMMAND --config NAME.yaml``: user errors end in one line, exit status 2."""

from __future__ import annotations

import importlib
import os
import sys

# Before torch is imported (OpenMP reads it once): idle intra-op threads sleep instead of spinning, which would take
# the cores of the other PyTorch processes running at once (DDP ranks, DataLoader workers, other jobs on the node;
# benchmarks/cpu_sharing.py). Set OMP_WAIT_POLICY yourself to choose otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from lightning_app.errors import UserError, user_message  # noqa: E402


USAGE = """usage: python -m lightning_app COMMAND --config NAME.yaml [--config ...] [--key value ...]

commands:
  fit        train (LightningCLI); --ckpt_path last resumes the newest run
  validate   one validation epoch of a checkpoint: --ckpt_path FILE
  test       one test epoch of a checkpoint: --ckpt_path FILE
  predict    window predictions of a checkpoint: --ckpt_path FILE
  cv         fit every fold, then a per-fold, mean and std table; a rerun continues it
  ablate     the full model and its ablations, one table (--cv: each as a cv)
  extract    run the frozen encoders once and write the feature cache (--data.cache_dir)
  infer      predictions for video files or streams: --ckpt_path FILE --video ... --out DIR
  submit     the challenge's files for a dataset split: --ckpt_path FILE --data.root DIR --split Test --out DIR
  sweep      a hyperparameter search (Optuna) from a W&B sweep file: --sweep FILE --trials N; a rerun continues it

`python -m lightning_app COMMAND --help` lists a command's options; `fit --print_config`
prints the fully resolved config. Configs: configs/ (dvd.yaml, affwild2.yaml, demo.yaml,
presets/). README.md has the details."""


# the commands that are not Trainer methods: their module and entry point (argv -> exit status)
COMMANDS = {"cv": "cv_main", "ablate": "ablate_main", "extract": "extract_main", "infer": "infer_main",
            "submit": "submit_main", "sweep": "sweep_main"}


def main() -> None:
    if sys.argv[1:] in ([], ["-h"], ["--help"]):
        # without importing torch and Lightning (seconds); LightningCLI's help would also omit COMMANDS
        print(USAGE, file=sys.stdout if sys.argv[1:] else sys.stderr)
        sys.exit(0 if sys.argv[1:] else 2)
    command, args = sys.argv[1], sys.argv[2:]
    try:
        if command not in COMMANDS:
            from lightning_app.cli import cli_main

            cli_main()
            return
        module = importlib.import_module(f"lightning_app.{command}")
        if command not in ("infer", "submit") and any(a in ("-h", "--help") for a in args):  # those parse their own
            print(module.__doc__)
            sys.exit(0)
        sys.exit(getattr(module, COMMANDS[command])(args))
    except UserError as error:
        print(f"error: {user_message(error)}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
