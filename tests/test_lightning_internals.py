"""Every private attribute of Lightning the project reads or sets (lightning_app/lightning_internals.py)
exists, with the meaning used there, in the installed Lightning: a release that renames one fails
here, by name."""

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger

from lightning_app.lightning_internals import (
    attached_trainer,
    csv_log_started,
    set_wandb_run_id,
    set_wandb_save_dir,
    step_is_logged,
    wandb_init_options,
)
from lightning_app.wandb_logger import WandbRunLogger


class _Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.logged_steps = []

    def training_step(self, batch, batch_idx):
        self.logged_steps.append(step_is_logged(self.trainer))
        return self.layer(batch).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_trainer_and_step_logging_state(tmp_path):
    module = _Tiny()
    assert attached_trainer(module) is None
    with pytest.raises(RuntimeError):  # why the seam exists: the public property raises
        module.trainer
    assert step_is_logged(None)  # no trainer: log
    trainer = pl.Trainer(max_steps=7, log_every_n_steps=3, logger=CSVLogger(tmp_path), enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, torch.utils.data.DataLoader(torch.ones(7, 1), batch_size=1))
    assert attached_trainer(module) is trainer
    # Lightning writes every 3rd batch that stepped the optimiser: steps 2 and 5
    assert module.logged_steps == [False, False, True, False, False, True, False]


def test_wandb_and_csv_logger_state(tmp_path):
    logger = WandbRunLogger(offline=True)
    options = wandb_init_options(logger)
    assert isinstance(options, dict) and options.get("project") == "video-fusion-lab"
    set_wandb_save_dir(logger, str(tmp_path))
    assert logger.save_dir == str(tmp_path) and options["dir"] == str(tmp_path)
    set_wandb_run_id(logger, "abc123")
    assert logger.version == "abc123" and options["id"] == "abc123" and options["resume"] == "allow"
    csv = CSVLogger(tmp_path)
    assert not csv_log_started(csv)
    csv.experiment
    assert csv_log_started(csv)
