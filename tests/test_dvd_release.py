"""The DVD release layout: Training / Validation / Test folders, Frame_Number,Label annotations."""

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from datamodules.dvd import DVDDataModule
from datamodules.dvd_release import fitted_targets, read_annotation, release_records, split_files
from datamodules.synthetic_videos import write_mp4
from lightning_app.errors import DataError
from tests.conftest import run_app
from tests.synthetic_dvd_release import render_labelled_video, write_annotation, write_synthetic_dvd_release


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return write_synthetic_dvd_release(tmp_path_factory.mktemp("dvd") / "DVD", seed=0)


def _copy(release, tmp_path) -> Path:
    return Path(shutil.copytree(release, tmp_path / "DVD"))


def test_the_layout_is_read_with_its_splits_and_labels(release):
    records = release_records(release, tolerance=0)
    assert [r.split for r in records] == ["train"] * 8 + ["val"] * 4
    assert records[0].video_id == "Training/t000" and records[-1].video_id == "Validation/v003"
    labels = read_annotation(release / "Training" / "annotations" / "t000.csv")
    targets = records[0].load_targets(len(labels))
    assert np.array_equal(targets.values[:, 0], labels) and targets.valid.all()
    assert {r.stratum for r in records} == {0, 1}  # folds are stratified by whether a video has violence
    videos, annotations = split_files(release, "Test")
    assert sorted(videos) == ["t000", "t001"] and annotations == {}


def test_annotation_variants_that_are_unambiguous(tmp_path):
    labels = np.array([0, 0, 1, 1, 0], np.uint8)
    for name, header in (("a.csv", "Frame_Number,Label"), ("b.txt", "frame_number,LABEL")):
        write_annotation(tmp_path / name, labels, header)
        assert np.array_equal(read_annotation(tmp_path / name), labels), name
    (tmp_path / "c.csv").write_text("Label,Frame_Number\n0,1\n1,2\n")  # columns in another order
    assert read_annotation(tmp_path / "c.csv").tolist() == [0, 1]
    (tmp_path / "d.csv").write_text("1,0\n2,1\n3,1\n")  # no header: two columns, frames 1, 2, 3
    assert read_annotation(tmp_path / "d.csv").tolist() == [0, 1, 1]


@pytest.mark.parametrize("text, message", [
    ("Frame,Label\n1,0\n", "expected the columns Frame_Number and Label, got 'Frame,Label'"),
    ("Frame_Number,Label\n1,0\n2,2\n", r"line 3: Label must be 0 or 1, got '2'"),
    ("Frame_Number,Label\n1,0\n2,1\n4,1\n", r"line 4: Frame_Number '4', but frame 3 should follow frame 2"),
    ("Frame_Number,Label\n0,0\n1,1\n", r"line 2: Frame_Number '0', but frames are numbered from 1"),
    ("1,0,7\n2,1,7\n", "expected the columns Frame_Number and Label"),  # no header and not unambiguous
    ("Frame_Number,Label\n", "has a header but no frame rows"),
])
def test_a_bad_annotation_is_one_error_naming_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "v.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as error:
        read_annotation(path)
    assert str(path) in str(error.value)


def test_rows_are_checked_against_the_decoded_frames(tmp_path):
    labels = np.ones(100, np.uint8)
    with pytest.raises(DataError, match=r"v.csv: 100 label rows for a video of 99 frames \(tolerance 0\); set "
                                         r"--data.max_frame_mismatch"):
        fitted_targets(labels, tmp_path / "v.csv", 0, 99)
    assert len(fitted_targets(labels, tmp_path / "v.csv", 1, 99)) == 99  # off by one, within the tolerance
    assert fitted_targets(labels, tmp_path / "v.csv", 2, 102).valid.sum() == 100  # the missing frames unlabelled


def test_a_video_without_annotation_or_an_annotation_without_video(release, tmp_path):
    root = _copy(release, tmp_path)
    (root / "Training" / "annotations" / "t001.csv").unlink()
    shutil.copy(root / "Validation" / "annotations" / "v000.csv", root / "Validation" / "annotations" / "v099.csv")
    with pytest.raises(DataError, match=r"video without annotation: .*Training/videos/t001.mp4 \(expected "
                                        r".*Training/annotations/t001.csv\)"):
        release_records(root, 0)
    skipped = []
    records = release_records(root, 0, skipped)
    assert len(records) == 11 and len(skipped) == 2 and "annotation without video" in skipped[1]


def test_the_datamodule_finds_the_layout_without_a_manifest(release):
    def splits(**options):
        dm = DVDDataModule(str(release), frame_size=32, num_workers=0, **options)
        return {name: sorted({r.video_id.split("/")[0] for r in rs}) for name, rs in dm.split_records().items()}

    assert splits(split_mode="official") == {"train": ["Training"], "val": ["Validation"], "test": ["Validation"]}
    # five folds over Training by default; the official Validation videos are then the test split
    assert splits(num_folds=4) == {"train": ["Training"], "val": ["Training"], "test": ["Validation"]}
    assert splits(num_folds=4, fold_splits="training+validation")["train"] == ["Training", "Validation"]


def test_a_root_that_is_neither_layout_says_what_was_expected(tmp_path):
    dm = DVDDataModule(str(tmp_path), num_workers=0)
    with pytest.raises(DataError, match=r"no manifest: .*manifest.csv not found .* is not the DVD release layout "
                                        r"\(Training/videos, Training/annotations"):
        dm.setup("fit")


def _shipped(release, tmp_path) -> list[str]:
    """dvd.yaml with the tiny encoders, on the synthetic release, small and on the CPU."""
    return ["--config", "dvd.yaml", "--config", "presets/tiny.yaml", "--data.root", str(release),
            "--data.frame_size", "32", "--data.num_workers", "0", "--data.batch_size", "4",
            "--trainer.accelerator", "cpu", "--trainer.default_root_dir", str(tmp_path)]


@pytest.mark.slow
def test_fit_on_the_official_split_reports_the_challenges_score(release, tmp_path):
    """As a user runs it: the shipped config, no manifest, the official split; the summary holds
    the DVD track's frame macro F1 beside the loss that chose the checkpoint."""
    result = run_app("fit", *_shipped(release, tmp_path), "--data.split_mode", "official", "--trainer.max_epochs", "2",
                     timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(next(tmp_path.rglob("summary.json")).read_text())
    assert summary["monitor"] == "val/loss"
    for key in ("val/f1", "val/frame_f1", "val/frame_macro_f1", "val/frame_macro_f1_best", "val/frame_best_threshold"):
        assert key in summary, key
    assert 0.0 <= summary["val/frame_macro_f1"] <= summary["val/frame_macro_f1_best"] <= 1.0
    folds = json.loads(next(tmp_path.rglob("folds.json")).read_text())
    assert folds["split_mode"] == "official" and len(folds["splits"]["train"]) == 8
    # the chosen checkpoint predicts a Test video at the validation's best threshold
    out = tmp_path / "infer"
    result = run_app("infer", "--ckpt_path", summary["ckpt_path"], "--threshold", "best", "--device", "cpu",
                     "--video", str(release / "Test" / "videos" / "t000.mp4"), "--out", str(out), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "t000" / "frames.csv").is_file() and (out / "t000" / "segments.json").is_file()
    # the challenge's files for the Validation videos score what validation reported
    sub = tmp_path / "sub_val"
    result = run_app("submit", "--ckpt_path", summary["ckpt_path"], "--data.root", str(release), "--split", "Validation",
                     "--out", str(sub), "--device", "cpu", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((sub / "summary.json").read_text())
    assert report["written"] == 4 and report["score"] == pytest.approx(summary["val/frame_macro_f1"], abs=1e-3)
    for video in sorted((release / "Validation" / "videos").glob("*.mp4")):
        lines = (sub / f"{video.stem}.csv").read_text().splitlines()
        annotated = (release / "Validation" / "annotations" / f"{video.stem}.csv").read_text().splitlines()
        assert lines[0] == "Frame_Number,Predicted_Label" and len(lines) == len(annotated)  # a row for every frame
    with zipfile.ZipFile(sub / "submission.zip") as bundle:
        assert sorted(bundle.namelist()) == [f"v00{i}.csv" for i in range(4)]
    # Test: a video shorter than a window still gets a row per frame; one that cannot be read is
    # named in the archive, and the command says so with its exit status
    root = _copy(release, tmp_path)
    frames, _ = render_labelled_video(40, 32, np.random.default_rng(5))
    write_mp4(root / "Test" / "videos" / "short.mp4", frames, 24)
    (root / "Test" / "videos" / "t001.mp4").write_bytes(b"not a video")
    sub = tmp_path / "sub_test"
    result = run_app("submit", "--ckpt_path", summary["ckpt_path"], "--data.root", str(root), "--out", str(sub),
                     "--device", "cpu", timeout=300)
    assert result.returncode == 1 and "failed: t001" in result.stderr
    assert len((sub / "short.csv").read_text().splitlines()) == 41
    with zipfile.ZipFile(sub / "submission.zip") as bundle:
        assert sorted(bundle.namelist()) == ["MISSING.txt", "short.csv", "t000.csv"]
        assert bundle.read("MISSING.txt").decode().startswith("t001: ")


@pytest.mark.slow
def test_cv_over_the_training_folds(release, tmp_path):
    result = run_app("cv", *_shipped(release, tmp_path), "--data.num_folds", "2", "--trainer.max_epochs", "1",
                     timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    table = json.loads(next(tmp_path.rglob("cv_summary.json")).read_text())
    # the track's score first, then window F1 and the loss that chose the checkpoints
    assert list(table["metrics"]) == ["val/frame_macro_f1", "val/f1", "val/loss"]
    assert all(v is not None for v in table["metrics"]["val/frame_macro_f1"]["folds"].values())
    folds = json.loads(next(tmp_path.rglob("fold_0/**/folds.json")).read_text())
    assert len(folds["folds"]) == 8 and all(video.startswith("Training/") for video in folds["folds"])
    # the cv folder is an ensemble of its folds' best checkpoints; Test has no annotations, so no score
    sub = tmp_path / "sub_test"
    result = run_app("submit", "--ckpt_path", str(Path(table["directory"])), "--data.root", str(release),
                     "--out", str(sub), "--device", "cpu", "--stride", "16", "--smooth", "5", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((sub / "summary.json").read_text())
    assert len(report["checkpoints"]) == 2 and report["written"] == 2 and "score" not in report
    with zipfile.ZipFile(sub / "submission.zip") as bundle:
        assert sorted(bundle.namelist()) == ["t000.csv", "t001.csv"]
