"""The challenges' submission formats, and the frame predictions submit writes."""

import zipfile

import numpy as np
import pytest

from lightning_app.errors import DataError
from lightning_app.submission import (MISSING_FILE, dvd_macro_f1, read_dvd_predictions, write_dvd_predictions,
                                      write_va_predictions, zip_submission)
from lightning_app.submit import fill_uncovered, smooth


def test_dvd_files_have_a_row_for_every_frame_and_read_back(tmp_path):
    labels = np.array([0, 1, 1, 0], np.uint8)
    path = write_dvd_predictions(tmp_path / "v1.csv", labels)
    assert path.read_text() == "Frame_Number,Predicted_Label\n1,0\n2,1\n3,1\n4,0\n"
    assert read_dvd_predictions(path).tolist() == labels.tolist()
    (tmp_path / "bad.csv").write_text("Frame_Number,Predicted_Label\n1,0\n3,1\n")
    with pytest.raises(DataError, match=r"bad.csv, line 3: expected '2,0' or '2,1', got '3,1'"):
        read_dvd_predictions(tmp_path / "bad.csv")


def test_the_dvd_score_pools_the_frames_of_all_videos(tmp_path):
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    truth, guesses = {}, []
    for name, length in (("a", 50), ("b", 80)):
        labels = (rng.random(length) < 0.4).astype(np.uint8)
        guess = np.where(rng.random(length) < 0.8, labels, 1 - labels).astype(np.uint8)
        valid = np.ones(length, bool)
        valid[-3:] = False  # frames without annotation are not scored
        write_dvd_predictions(tmp_path / f"{name}.csv", guess)
        truth[name] = (labels, valid)
        guesses.append((labels[valid], guess[valid]))
    expected = f1_score(np.concatenate([g[0] for g in guesses]), np.concatenate([g[1] for g in guesses]), average="macro")
    assert dvd_macro_f1(tmp_path, truth) == pytest.approx(expected, abs=1e-6)
    truth["c"] = (np.zeros(5), np.ones(5, bool))
    with pytest.raises(DataError, match="c.csv: no predictions for video c"):
        dvd_macro_f1(tmp_path, truth)


def test_va_files_and_the_archive_say_what_is_missing(tmp_path):
    path = write_va_predictions(tmp_path / "video1_left.txt", np.array([[0.5, -0.25], [0.0, 1.0]]))
    assert path.read_text().splitlines() == ["valence,arousal", "0.500000,-0.250000", "0.000000,1.000000"]
    archive = zip_submission(tmp_path / "submission.zip", [path], ["video2: cannot decode"])
    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == [MISSING_FILE, "video1_left.txt"]
        assert bundle.read(MISSING_FILE).decode() == "video2: cannot decode\n"


def test_every_frame_gets_a_prediction_and_smoothing_averages_neighbours():
    preds = np.array([[np.nan], [0.2], [np.nan], [np.nan], [0.8], [np.nan]])
    assert fill_uncovered(preds)[:, 0].tolist() == [0.2, 0.2, 0.2, 0.8, 0.8, 0.8]  # the nearest covered frame
    values = np.array([[0.0], [0.0], [0.9], [0.0], [0.0]])
    assert smooth(values, 3)[:, 0].tolist() == pytest.approx([0.0, 0.3, 0.3, 0.3, 0.0])
    assert smooth(values, 1) is values


def test_tracks_without_a_video_are_reported_not_fatal_and_bad_arguments_are_one_error(tmp_path):
    from lightning_app.errors import ConfigError
    from lightning_app.submit import affwild2_tracks, dvd_tracks
    from tests.synthetic_affwild2 import write_synthetic_affwild2

    root = write_synthetic_affwild2(tmp_path / "aw", num_videos=4, seed=0)
    names = tmp_path / "names.txt"
    names.write_text("video000_left\nvideo099\n")
    tracks = affwild2_tracks(root, "Test", str(names), None, 0)
    assert tracks["video099"] == (None, None) and tracks["video000_left"][0].name == "video000.mp4"
    with pytest.raises(ConfigError, match="--names .*nope.txt: no such file"):
        affwild2_tracks(root, "Test", str(tmp_path / "nope.txt"), None, 0)
    with pytest.raises(ConfigError, match="no Test tracks: .*Test_Set holds no annotation files; pass --names FILE"):
        affwild2_tracks(root, "Test", None, None, 0)
    (tmp_path / "dvd" / "Training" / "videos").mkdir(parents=True)
    with pytest.raises(ConfigError, match="no videos in Test/videos"):
        dvd_tracks(tmp_path / "dvd", "Test", 0)
