import io
import re

import lightning.pytorch as pl
import torch

from callbacks.progress_bar import ThrottledRichProgressBar


def test_draws_at_most_every_interval_and_always_on_the_last_batch(monkeypatch):
    clock = iter([10.0, 10.1, 10.2, 10.3, 10.6, 10.65])
    monkeypatch.setattr("callbacks.progress_bar.time.monotonic", lambda: next(clock))
    bar = ThrottledRichProgressBar(interval_s=0.25)
    due = [bar._due(index, lambda: 6) for index in range(6)]
    # 10.0 drawn; 10.1, 10.2 too soon; 10.3 is 0.3 s later; 10.6 is 0.3 s later; the last batch always
    assert due == [True, False, False, True, True, True]


def test_a_disabled_bar_never_draws_nor_asks_for_totals():
    """Under DDP every rank but 0 has a disabled bar, whose evaluation totals are never set:
    reading them there failed an assertion inside Lightning and killed the run."""
    bar = ThrottledRichProgressBar()
    bar.disable()

    def total():
        raise AssertionError("a disabled bar asked for its total")

    assert not any(bar._due(index, total) for index in range(3))
    bar.on_validation_batch_end(None, None, None, None, 0)  # returns without drawing or asking
    bar.on_predict_batch_end(None, None, None, None, 0)
    assert bar._undrawn_predict_batch is None


class _Items(torch.utils.data.IterableDataset):  # no len: the bar's total is unknown
    def __iter__(self):
        return iter(torch.ones(7, 1).split(1))


class _Identity(pl.LightningModule):
    def predict_step(self, batch, batch_idx):
        return batch


def test_unknown_total_shows_the_last_batch_at_the_end():
    screen = io.StringIO()
    bar = ThrottledRichProgressBar(interval_s=3600.0, console_kwargs={"file": screen, "force_terminal": True, "width": 120})
    trainer = pl.Trainer(accelerator="cpu", callbacks=[bar], logger=False, enable_model_summary=False)
    trainer.predict(_Identity(), dataloaders=torch.utils.data.DataLoader(_Items(), batch_size=None), return_predictions=False)
    drawn = re.findall(r"(\d+)/--", screen.getvalue())
    assert drawn and drawn[-1] == "7", drawn  # the first batch drew (interval), the rest only at the end
