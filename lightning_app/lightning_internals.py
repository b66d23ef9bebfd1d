"""The one place that reads or sets Lightning's private state, where no public API does the job.

Each function says what it needs and why no public API gives it. ``tests/test_lightning_internals.py``
builds the real objects and checks every attribute used here, so a Lightning release that renames
one fails that test by name, not a run somewhere else.
"""

from __future__ import annotations

from typing import Any, Optional


def attached_trainer(module) -> Optional[Any]:
    """The module's trainer, or None when it has none (``LightningModule.trainer`` raises then)."""
    return module._trainer


def step_is_logged(trainer) -> bool:
    """Whether the loggers will write this training step's values (every ``log_every_n_steps`` batches that stepped
    the optimiser, or when training stops). Lightning decides it in its logger connector and exposes the decision
    nowhere public; counting steps here instead would drift from it under gradient accumulation."""
    connector = getattr(trainer, "_logger_connector", None)
    return connector is None or bool(trainer.fast_dev_run) or bool(connector.should_update_logs)


def wandb_init_options(logger) -> dict[str, Any]:
    """The options ``WandbLogger`` will hand ``wandb.init`` when its run starts (mutable until then). The logger is
    built from the config before the run folder is known, and has no public way to change them afterwards."""
    return logger._wandb_init


def set_wandb_save_dir(logger, directory: str) -> None:
    """Where a ``WandbLogger`` built without a ``save_dir`` writes (its ``save_dir`` is read-only)."""
    logger._save_dir = directory
    logger._wandb_init["dir"] = directory


def set_wandb_run_id(logger, run_id: str) -> None:
    """Continue the W&B run ``run_id`` (a resumed fit): the id the logger reports and the one its run starts with."""
    logger._id = run_id
    logger._wandb_init.update(id=run_id, resume="allow")


def csv_log_started(logger) -> bool:
    """Whether a ``CSVLogger`` has opened its metrics file (its ``experiment`` property opens it)."""
    return logger._experiment is not None
