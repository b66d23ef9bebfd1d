import csv
import json

from lightning_app.cli import cli_main
from tests.conftest import TINY_ENCODERS, data_args


def test_timing_json_holds_every_epochs_steps_and_time(clips_root, tmp_path):
    cli = cli_main(["fit", "--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root, batch_size=3),
                    "--trainer.max_epochs", "2", "--trainer.default_root_dir", str(tmp_path),
                    "--trainer.enable_progress_bar", "false", "--trainer.callbacks+=callbacks.TrainTimer"])
    timing = json.loads(next(tmp_path.rglob("timing.json")).read_text())["epochs"]
    steps = cli.trainer.num_training_batches
    assert [e["epoch"] for e in timing] == [0, 1] and all(e["steps"] == steps for e in timing)
    assert all(e["seconds"] > 0 and abs(e["step_ms"] - 1000 * e["seconds"] / steps) < 1e-9 for e in timing)
    # the median step lies within the epoch: no step is longer than the epoch
    assert all(0 < e["step_ms_median"] <= 1000 * e["seconds"] for e in timing)
    with next(tmp_path.rglob("metrics.csv")).open() as handle:
        logged = [float(row["time/train_step_ms"]) for row in csv.DictReader(handle) if row.get("time/train_step_ms")]
    assert len(logged) == 2 and all(abs(a - e["step_ms"]) < 1e-3 for a, e in zip(logged, timing))
