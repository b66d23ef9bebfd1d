import pytest

from datamodules.manifest import read_manifest, write_manifest
from lightning_app.errors import DataError


def test_round_trip(tmp_path):
    write_manifest(tmp_path / "m.csv", [{"video": "a.mp4", "label": 1, "fold": 0}, {"video": "/abs/b.mp4", "label": 0, "fold": 1, "split": "test"}])
    rows = read_manifest(tmp_path / "m.csv", tmp_path)
    assert rows[0].video == tmp_path / "a.mp4" and rows[0].label == 1 and rows[0].fold == 0 and rows[0].split == ""
    assert str(rows[1].video) == "/abs/b.mp4" and rows[1].split == "test"


@pytest.mark.parametrize(
    "text, message",
    [
        ("video,label\na.mp4,1\n", r"lacks column\(s\) fold"),
        ("video,label,fold\na.mp4,yes,0\n", "line 2: label and fold must be integers"),
        ("video,label,fold\na.mp4,2,0\n", "label must be 0 or 1"),
        ("video,label,fold\n", "lists no rows"),
    ],
)
def test_bad_manifests_name_the_file_and_problem(tmp_path, text, message):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_manifest(path, tmp_path)
    assert str(path) in str(info.value)


def test_missing_manifest(tmp_path):
    with pytest.raises(DataError, match="no manifest"):
        read_manifest(tmp_path / "nope.csv", tmp_path)
