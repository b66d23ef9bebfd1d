import csv

from lightning_app.run_csv_logger import RunCSVLogger, rows_up_to_epoch


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["epoch", "step", "train/loss", "val/f1"])
        writer.writeheader()
        writer.writerows(rows)


ROWS = [
    {"epoch": 0, "step": 3, "train/loss": 0.9, "val/f1": ""},
    {"epoch": 0, "step": 3, "train/loss": "", "val/f1": 0.5},
    {"epoch": 1, "step": 7, "train/loss": "", "val/f1": 0.6},
    {"epoch": 2, "step": 9, "train/loss": 0.7, "val/f1": ""},  # logged after the checkpoint, then killed
]


def test_rows_up_to_epoch(tmp_path):
    _write(tmp_path / "metrics.csv", ROWS)
    header, rows = rows_up_to_epoch(tmp_path / "metrics.csv", 1)
    assert header == ["epoch", "step", "train/loss", "val/f1"]
    assert [(r["epoch"], r["step"]) for r in rows] == [("0", "3"), ("0", "3"), ("1", "7")]


def test_resumed_logger_keeps_the_epochs_before_the_checkpoint(tmp_path):
    _write(tmp_path / "lightning_logs" / "version_0" / "metrics.csv", ROWS)
    logger = RunCSVLogger(save_dir=tmp_path, name="lightning_logs", version="version_0", resume_epoch=1)
    logger.log_metrics({"epoch": 2, "val/f1": 0.8, "val/auroc": 0.9}, step=11)  # a new column too
    logger.save()
    with (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["epoch"], r["step"], r["val/f1"]) for r in rows] == [
        ("0", "3", ""), ("0", "3", "0.5"), ("1", "7", "0.6"), ("2", "11", "0.8")]
    assert rows[-1]["val/auroc"] == "0.9" and rows[0]["train/loss"] == "0.9"


def test_a_fresh_logger_starts_a_fresh_file(tmp_path):
    logger = RunCSVLogger(save_dir=tmp_path, name="lightning_logs", version="version_0")
    logger.log_metrics({"val/f1": 0.1}, step=0)
    logger.save()
    with (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").open() as handle:
        assert [r["val/f1"] for r in csv.DictReader(handle)] == ["0.1"]
