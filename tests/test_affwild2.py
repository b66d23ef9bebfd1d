import numpy as np
import pytest

from datamodules.affwild2 import AffWild2DataModule, read_va_file, video_stem
from lightning_app.errors import DataError
from tests.synthetic_affwild2 import write_synthetic_affwild2


@pytest.fixture(scope="module")
def affwild(tmp_path_factory):
    return write_synthetic_affwild2(tmp_path_factory.mktemp("affwild2"), num_videos=8, seed=0)


def test_names_map_to_videos():
    assert video_stem("video10_left") == "video10" and video_stem("video10_right") == "video10"
    assert video_stem("1-30-1280x720") == "1-30-1280x720"


def test_parse_marks_minus_five_invalid(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("valence,arousal\n0.5,-0.25\n-5,-5\n-1,1\n")
    targets = read_va_file(path)
    assert targets.valid.tolist() == [True, False, True]
    assert np.allclose(targets.values[0], [0.5, -0.25]) and np.allclose(targets.values[2], [-1, 1])


@pytest.mark.parametrize(
    "text, message",
    [
        ("val,aro\n0.1,0.1\n", "line 1: expected the header"),
        ("valence,arousal\n0.1,0.1\n0.2\n", "line 3: expected two numbers"),
        ("valence,arousal\n0.1,abc\n", "line 2: expected two numbers"),
        ("valence,arousal\n0.1,1.5\n", "line 2: value 1.5 is outside"),
    ],
)
def test_bad_annotation_lines(tmp_path, text, message):
    path = tmp_path / "a.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_va_file(path)
    assert str(path) in str(info.value)


def test_layout_records_faces_short_videos_and_unannotated(affwild):
    dm = AffWild2DataModule(str(affwild), num_folds=2, frame_size=32, num_workers=0)
    records = {r.video_id: r for r in dm.records()}
    assert {"video000_left", "video000_right"} <= set(records)
    assert records["video000_left"].path == records["video000_right"].path
    assert dm.unannotated == ["video008"] and "video008" not in records
    assert {r.split for r in records.values()} == {"train", "val"}
    folds = dm.fold_assignment()
    assert folds["video000_left"] == folds["video000_right"]  # two faces, one fold


def test_windows_without_valid_frames_are_skipped_and_targets_are_means(affwild):
    dm = AffWild2DataModule(str(affwild), num_folds=2, frame_size=32, num_workers=0)
    for fold in (0, 1):
        dm = AffWild2DataModule(str(affwild), fold=fold, num_folds=2, frame_size=32, num_workers=0)
        dm.setup("fit")
        windows = [w for ds in dm.datasets.values() for w in ds.windows]
        if "video002@0" in dm.skipped["windows"]:
            break
    assert "video002@0" in dm.skipped["windows"]  # its first 64 frames are all -5
    assert not any(w.video_id == "video002" and w.start == 0 for w in windows)
    short = [w for w in windows if w.video_id == "video001"]
    assert len(short) <= 1 and all((w.start, w.end) == (0, 40) for w in short)  # 40 frames: one padded window
    item = dm.datasets["train"][0]
    values, valid = item["frame_target"].numpy(), item["frame_mask"].numpy()
    assert np.allclose(item["target"].numpy(), values[valid].mean(0), atol=1e-5)


def test_official_split(affwild):
    dm = AffWild2DataModule(str(affwild), split_mode="official", frame_size=32, num_workers=0)
    splits = dm.split_records()
    assert {r.split for r in splits["train"]} == {"train"} and {r.split for r in splits["val"]} == {"val"}


def test_frame_count_mismatch_and_missing_video(affwild, tmp_path):
    import shutil

    root = tmp_path / "aw"
    shutil.copytree(affwild, root)
    annotation = root / "VA_Estimation_Challenge" / "Train_Set" / "video003.txt"
    annotation.write_text("\n".join(annotation.read_text().splitlines()[:-10]) + "\n")
    dm = AffWild2DataModule(str(root), split_mode="official", frame_size=32, num_workers=0)
    with pytest.raises(DataError, match=r"video003.txt: \d+ label rows for a video of \d+ frames"):
        dm.setup("fit")
    dm = AffWild2DataModule(str(root), split_mode="official", frame_size=32, num_workers=0, max_frame_mismatch=10)
    dm.setup("fit")
    (root / "VA_Estimation_Challenge" / "Train_Set" / "ghost.txt").write_text("valence,arousal\n0,0\n")
    with pytest.raises(DataError, match="ghost.txt: no video named ghost"):
        AffWild2DataModule(str(root)).records()
    dm = AffWild2DataModule(str(root), on_bad_video="skip")
    with pytest.warns(UserWarning, match="ghost"):
        assert "ghost" not in {r.video_id for r in dm.records()}
