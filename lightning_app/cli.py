"""LightningCLI for the project: ``python -m lightning_app {fit,validate,test,predict} --config NAME.yaml``."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger

from callbacks.evaluation_plots import EvaluationPlots
from callbacks.failed_run import FailedRunCleanup
from callbacks.progress_bar import ThrottledRichProgressBar
from callbacks.rng_state import RngStateCheckpoint
from callbacks.run_summary import RunSummary
from datamodules.window_datamodule import WindowDataModule
from lightning_app.checkpoint_file import LIGHTNING_ALIASES, checkpoint_epoch, load_checkpoint_file
from lightning_app.config_paths import resolve_config_args
from lightning_app.errors import ConfigError, UserError
from lightning_app.parser_errors import OneLineErrorParser
from lightning_app.preflight import check_run_folder
from lightning_app.resume import read_wandb_id, resolve_resume, run_folder, write_wandb_id
from lightning_app.run_csv_logger import RunCSVLogger
from lightning_app.wandb_logger import WandbRunLogger
from models.lit_module import VideoFusionModule, encoder_specs

# The frozen encoders stay in eval mode on purpose.
warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training.*")
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
# The other commands call the CLI in-process with their own argument lists.
warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended to run from within Python.*")
# The module moves batches itself on purpose (models/batch_transfer.py).
warnings.filterwarnings("ignore", message=r".*overridden `transfer_batch_to_device` in `LightningModule`.*")


# Lightning logs a tip recommending a hosted logging service at every run: dropped.
for _name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(lambda record: "litlogger" not in record.getMessage())

# Sections of the resolved config that define an experiment's numbers.
HASHED_SECTIONS = ("seed_everything", "model", "data")


def cached_feature_dims(datamodule) -> Optional[dict[str, int]]:
    dims = getattr(datamodule, "cached_feature_dims", None)
    try:
        return dims() if callable(dims) else None
    except UserError:
        # Not decidable yet (the demo writes its clips in prepare_data, later) or a data error that the datamodule
        # reports in one line when it sets up; raised here, inside an argument link, it would be a parser traceback.
        return None


class SaveAndUploadConfig(SaveConfigCallback):
    """Writes config.yaml into the run folder, as LightningCLI does, and uploads the full resolved
    config as the W&B run config (rank 0 only)."""

    def setup(self, trainer: Trainer, pl_module, stage: str) -> None:
        # Trainer.log_dir broadcasts from rank 0, so every rank reads it here; save_config runs
        # on rank 0 alone and must not ask for it (a collective on one rank hangs DDP).
        self._run_dir = trainer.log_dir
        super().setup(trainer, pl_module, stage)

    def save_config(self, trainer: Trainer, pl_module, stage: str) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbRunLogger):
                resolved = json.loads(self.parser.dump(self.config, format="json", skip_check=True))
                logger.experiment.config.update(resolved, allow_val_change=True)
                if self._run_dir:  # so that a resumed fit continues this W&B run
                    write_wandb_id(Path(self._run_dir), logger.experiment.id)


def finish_wandb() -> None:
    """End the current W&B run, if any, so the next one (a cv fold) never merges into it."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


def typed_model_keys(argv: Sequence[str]) -> list[str]:
    """The model settings named on a command line: ``--model.threshold 0.3`` or ``--model.threshold=0.3`` ->
    ``threshold`` (``--model.video_encoder.name x`` -> ``video_encoder``)."""
    keys = [arg[len("--model."):].split("=", 1)[0].split(".", 1)[0] for arg in argv
            if isinstance(arg, str) and arg.startswith("--model.")]
    return list(dict.fromkeys(keys))


class VideoFusionCLI(LightningCLI):
    """LightningCLI adding to every run a CSV logger under ``default_root_dir`` and a rich progress bar (unless the
    config names others or turns the bar off), ``RunSummary``, ``EvaluationPlots``, ``RngStateCheckpoint`` (exact
    resume) and ``FailedRunCleanup``; after ``fit``, the best checkpoint's validation goes into ``summary.json``."""

    def __init__(self, *args: Any, callbacks: Sequence[Callback] = (), **kwargs: Any):
        """``callbacks``: added to the trainer's, beside the config's (how a sweep hands a trial's pruning to a fit)."""
        self._extra_callbacks = list(callbacks)
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        # The feature cache is keyed by the model's encoders: the datamodule gets them from here.
        parser.link_arguments(("model.video_encoder", "model.clip_encoder", "model.captioner"),
                              "data.init_args.encoders", compute_fn=encoder_specs)
        # from a complete feature cache the model takes its feature sizes, and never builds (or loads) its encoders
        parser.link_arguments("data", "model.feature_dims", compute_fn=cached_feature_dims, apply_on="instantiate")

    def parse_arguments(self, parser, args) -> None:
        super().parse_arguments(parser, args)
        # LightningCLI next puts a named checkpoint's hyperparameters over the model's config: check the file first,
        # so a missing, truncated or foreign one, or one of the other task, is one error line (fit's "last": below)
        subcommand = self.config.get("subcommand")
        config = self.config.get(subcommand) if subcommand else None
        ckpt_path = config.get("ckpt_path") if config is not None else None
        if not ckpt_path or str(ckpt_path) in LIGHTNING_ALIASES:
            return
        # ... and over what the command line itself says, too (Lightning issue #20801): kept here, put back below
        typed = typed_model_keys(sys.argv[1:] if args is None else args)
        self._typed_model = {key: copy.deepcopy(config["model"][key]) for key in typed if key in config["model"]}
        trained_for = load_checkpoint_file(str(ckpt_path))["hyper_parameters"].get("task")
        task = config.get("model", {}).get("task")
        if trained_for is not None and task is not None and trained_for != task:
            raise ConfigError(f"--ckpt_path {ckpt_path} was trained for task {trained_for!r} and the config's model.task "
                              f"is {task!r}: pass the config it was trained with (config.yaml in its run folder)")

    def before_instantiate_classes(self) -> None:
        """A ``--model.KEY`` typed on the command line wins over the named checkpoint's hyperparameters (``test
        --ckpt_path X --model.threshold 0.3`` tests at 0.3); config files still yield to the checkpoint."""
        typed = getattr(self, "_typed_model", None)
        if typed and self.subcommand:
            model = self.config[self.subcommand]["model"]
            for key, value in typed.items():
                model[key] = value

    def _config_hash(self) -> str:
        full = json.loads(self.parser.dump(self.config, format="json", skip_check=True))
        section = full.get(str(self.subcommand), full) if self.subcommand else full
        relevant = {key: section.get(key) for key in HASHED_SECTIONS}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:12]

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        section = self.config_init[self.subcommand] if self.subcommand else self.config_init
        config = {**(section.get("trainer") or {}), **kwargs}
        root = config.get("default_root_dir") or "."
        resume = self._resume_folder(root)
        logger = config.get("logger")
        if logger is not False:
            # A CSV log always comes first, whatever else logs: its version folder is the run folder (summary.json,
            # config.yaml, folds.json, checkpoints). A resumed fit goes on in its checkpoint's folder and W&B run.
            loggers = [] if logger in (None, True) else logger if isinstance(logger, list) else [logger]
            if not any(isinstance(item, CSVLogger) for item in loggers):
                version = resume.name if resume is not None else None
                resume_epoch = checkpoint_epoch(self._resume_checkpoint) if resume is not None else None
                loggers.insert(0, RunCSVLogger(save_dir=root, name="lightning_logs", version=version, resume_epoch=resume_epoch))
            for item in loggers:
                if isinstance(item, WandbRunLogger):
                    item.apply_defaults(root, resume_id=read_wandb_id(resume) if resume is not None else None)
            kwargs["logger"] = loggers
        config_all = self.config.get(str(self.subcommand), self.config)
        seed = config_all.get("seed_everything")
        configured = config.get("callbacks") or []
        configured = configured if isinstance(configured, list) else [configured]
        callbacks = [*configured, RunSummary(config_hash=self._config_hash(), seed=seed if isinstance(seed, int) else None),
                     EvaluationPlots(), RngStateCheckpoint(), FailedRunCleanup(), *self._extra_callbacks]
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in configured):
            callbacks.append(ThrottledRichProgressBar())
        kwargs.pop("callbacks", None)  # in ``callbacks`` above
        return super().instantiate_trainer(**kwargs, callbacks=callbacks)

    def _resume_folder(self, root: str):
        """For ``fit --ckpt_path X``: resolve X (``last`` included) and return its run folder."""
        if self.subcommand != "fit":
            return None
        ckpt_path = self.config["fit"].get("ckpt_path")
        if not ckpt_path:
            return None
        self._resume_checkpoint = resolve_resume(str(ckpt_path), Path(root))
        return run_folder(self._resume_checkpoint)

    def before_fit(self) -> None:
        checkpoints = [c for c in self.trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)]
        kept = sum(max(c.save_top_k, 1) if c.save_top_k >= 0 else 5 for c in checkpoints)
        check_run_folder(self.trainer.default_root_dir, self.model, kept)
        checkpoint = getattr(self, "_resume_checkpoint", None)
        if checkpoint is not None:
            self.config_init["fit"]["ckpt_path"] = str(checkpoint)

    def after_fit(self) -> None:
        checkpoint = self.trainer.checkpoint_callback
        best = getattr(checkpoint, "best_model_path", "") if checkpoint else ""
        if best and not self.trainer.interrupted:
            self.trainer.validate(self.model, datamodule=self.datamodule, ckpt_path=best, verbose=False)
        finish_wandb()

    def after_validate(self) -> None:
        finish_wandb()

    def after_test(self) -> None:
        finish_wandb()


class ConfigReader(VideoFusionCLI):
    """Parses a command line as ``VideoFusionCLI`` does, then builds and runs nothing: ``resolved`` is the
    subcommand's full config as plain data (LightningCLI runs the subcommand only while ``subcommand`` is set)."""

    def instantiate_classes(self) -> None:
        pass

    def after_instantiate_classes(self) -> None:
        full = json.loads(self.parser.dump(self.config, format="json", skip_check=True))
        self.resolved: dict[str, Any] = full[str(self.subcommand)]
        self.subcommand = None


def parse_config(args: Sequence[str]) -> dict[str, Any]:
    """The fully resolved config of a command line, as plain data, without building anything."""
    return ConfigReader(VideoFusionModule, WindowDataModule, subclass_mode_data=True, args=resolve_config_args(args),
                        parser_kwargs={"parser_mode": "omegaconf"}, parser_class=OneLineErrorParser).resolved


def cli_main(args: Optional[Sequence[str]] = None, run: bool = True, callbacks: Sequence[Callback] = ()) -> VideoFusionCLI:
    if args is None:  # from the command line: rewrite sys.argv itself, as LightningCLI reads it
        sys.argv[1:] = resolve_config_args(sys.argv[1:])
    else:
        args = resolve_config_args(args)
    return VideoFusionCLI(VideoFusionModule, WindowDataModule, subclass_mode_data=True, args=args, run=run,
                          callbacks=callbacks,
                          parser_kwargs={"parser_mode": "omegaconf"}, parser_class=OneLineErrorParser,
                          save_config_callback=SaveAndUploadConfig, save_config_kwargs={"overwrite": True})
