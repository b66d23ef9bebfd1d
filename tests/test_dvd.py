import numpy as np
import pytest

from datamodules.dvd import DVDDataModule, read_manifest, write_manifest
from datamodules.synthetic_videos import render_clip, write_mp4
from lightning_app.errors import DataError


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Three 72-frame clips under a fresh root."""
    root = tmp_path_factory.mktemp("dvd")
    (root / "v").mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        write_mp4(root / "v" / f"{index}.mp4", render_clip(bool(index % 2), 72, 32, rng), fps=24)
    return root


def test_label_columns(videos):
    (videos / "f.txt").write_text("\n".join(["0"] * 10 + ["1"] * 62) + "\n")
    write_manifest(videos / "m.csv", [
        {"video": "v/0.mp4", "segments": "10-20;30-35", "frame_labels": "", "label": ""},
        {"video": "v/1.mp4", "segments": "", "frame_labels": "", "label": ""},
    ])
    rows = read_manifest(videos / "m.csv", videos)
    first = rows[0].load_targets(72)
    assert first.values[:, 0].sum() == 15 and first.values[10, 0] == 1 and first.values[20, 0] == 0
    assert rows[0].stratum == 1 and rows[1].stratum == 0 and rows[1].load_targets(72).values.sum() == 0

    write_manifest(videos / "m2.csv", [{"video": "v/2.mp4", "frame_labels": "f.txt"}])
    targets = read_manifest(videos / "m2.csv", videos)[0].load_targets(72)
    assert targets.values[:10, 0].sum() == 0 and targets.values[10:, 0].all()
    with pytest.raises(DataError, match=r"f.txt: 72 label rows for a video of 80 frames"):
        read_manifest(videos / "m2.csv", videos)[0].load_targets(80)


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"video": "v/0.mp4", "fold": "0"}], "needs a video column and one of"),
        ([{"video": "v/0.mp4", "label": "yes"}], "line 2: label must be 0 or 1"),
        ([{"video": "v/9.mp4", "label": "1"}], r"line 2: video not found: .*v/9.mp4"),
        ([{"video": "v/0.mp4", "segments": "5-"}], "line 2: "),
        ([{"video": "v/0.mp4", "label": "1", "fold": "x"}], "fold must be an integer"),
    ],
)
def test_bad_manifests_name_the_file_and_line(videos, rows, message):
    write_manifest(videos / "m.csv", rows)
    with pytest.raises(DataError, match=message) as info:
        read_manifest(videos / "m.csv", videos)
    assert str(videos / "m.csv") in str(info.value)


def test_bad_frame_label_line(videos):
    (videos / "f.txt").write_text("0\n1\nmaybe\n")
    write_manifest(videos / "m.csv", [{"video": "v/0.mp4", "frame_labels": "f.txt"}])
    with pytest.raises(DataError, match=r"f.txt, line 3: expected 0 or 1"):
        read_manifest(videos / "m.csv", videos)[0].load_targets(3)


def test_window_labels_follow_the_violent_fraction(videos):
    write_manifest(videos / "manifest.csv", [
        {"video": "v/0.mp4", "segments": "0-39", "fold": 0},
        {"video": "v/1.mp4", "segments": "", "fold": 1},
    ])
    for fraction, expected in ((0.5, [1.0, 0.0, 0.0]), (0.25, [1.0, 1.0, 0.0])):
        dm = DVDDataModule(str(videos), violent_fraction=fraction, fold=1, frame_size=32, num_workers=0)
        dm.setup("fit")
        train = dm.datasets["train"].windows
        # 72 frames, windows at 0 and 8 (end-aligned): 39 / 64 and 31 / 64 frames violent
        assert [w.start for w in train] == [0, 8]
        assert [float(w.target[0]) for w in train] == expected[:2]


def test_missing_manifest_counts_the_videos(videos):
    with pytest.raises(DataError, match=r"3 video file\(s\) under .* but no manifest"):
        read_manifest(videos / "absent.csv", videos)


def test_paths_cannot_escape_the_root(videos, tmp_path):
    outside = tmp_path / "elsewhere.mp4"
    outside.write_bytes((videos / "v" / "0.mp4").read_bytes())
    for value in (str(outside), "../" + outside.name if outside.parent == videos.parent else str(outside), "v/../../x.mp4"):
        write_manifest(videos / "m.csv", [{"video": value, "label": "1"}])
        with pytest.raises(DataError, match="is outside the dataset root"):
            read_manifest(videos / "m.csv", videos)
    write_manifest(videos / "m.csv", [{"video": str(outside), "label": "1"}])
    assert read_manifest(videos / "m.csv", videos, allow_outside=True)[0].path == outside
    write_manifest(videos / "m.csv", [{"video": "v/0.mp4", "frame_labels": "../../etc/passwd"}])
    with pytest.raises(DataError, match="is outside the dataset root"):
        read_manifest(videos / "m.csv", videos)
