"""Weights & Biases logging that never hangs a run without an account or a network."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_info

from lightning_app.lightning_internals import set_wandb_run_id, set_wandb_save_dir, wandb_init_options


def has_api_key() -> bool:
    """A W&B API key in the environment or in ~/.netrc (where `wandb login` puts it)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def offline_by_default() -> bool:
    """Offline when ``WANDB_MODE`` asks for it or no API key is configured."""
    return os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun", "disabled") or not has_api_key()


class WandbRunLogger(WandbLogger):
    """Lightning's ``WandbLogger``, offline unless an API key is configured.

    Args (besides ``WandbLogger``'s):
        offline: True or False forces the mode; None (default) goes offline when ``WANDB_MODE`` says so or no API
            key is found, and says how to upload later.
        save_dir: where W&B writes; None puts it under ``--trainer.default_root_dir``.
        log_model: log the best checkpoint as an artifact (online only).

    The command line uploads the resolved config and ``summary.json``'s metrics; ``cv`` groups the folds' runs.
    """

    def __init__(self, project: str = "video-fusion-lab", save_dir: Optional[str] = None,
                 offline: Optional[bool] = None, log_model: bool = False, group: Optional[str] = None,
                 name: Optional[str] = None, tags: Optional[list[str]] = None, **kwargs: Any):
        if offline is None:
            offline = offline_by_default()
        if offline:
            rank_zero_info("W&B runs offline (no API key found, or WANDB_MODE=offline); upload later with "
                           "`wandb sync <save_dir>/wandb/offline-run-*`")
        super().__init__(project=project, save_dir=save_dir, offline=offline, log_model=log_model and not offline,
                         group=group, name=name, tags=tags, **kwargs)

    def apply_defaults(self, directory: str, resume_id: Optional[str] = None) -> None:
        """Before the run starts: write under ``directory`` unless a save_dir was given, and take group, name and
        job type from ``WANDB_RUN_GROUP`` / ``WANDB_NAME`` / ``WANDB_JOB_TYPE`` unless given (``cv`` sets them per
        fold; wandb reads the environment only once per process). ``resume_id`` continues a resumed fit's run."""
        options = wandb_init_options(self)
        if not self.save_dir:
            Path(directory).mkdir(parents=True, exist_ok=True)
            set_wandb_save_dir(self, directory)
        for key, variable in (("group", "WANDB_RUN_GROUP"), ("name", "WANDB_NAME"), ("job_type", "WANDB_JOB_TYPE")):
            if not options.get(key) and os.environ.get(variable):
                options[key] = os.environ[variable]
        if resume_id and not options.get("id"):
            set_wandb_run_id(self, resume_id)
