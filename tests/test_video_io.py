import numpy as np
import pytest

from datamodules.synthetic_videos import write_mp4
from datamodules.video_io import probe_video, read_frames
from lightning_app.errors import DataError


def _stripes(num_frames: int, size: int = 64) -> np.ndarray:
    """Frame t: a flat grey level 4 t + 20, and a white bar whose row encodes t."""
    frames = np.zeros((num_frames, size, size, 3), np.uint8)
    for t in range(num_frames):
        frames[t] = 4 * t + 20
        frames[t, t : t + 4, :, :] = 255
    return frames


def test_decord_reads_back_what_was_written(tmp_path):
    frames = _stripes(30)
    write_mp4(tmp_path / "v.mp4", frames, fps=10)
    info = probe_video(tmp_path / "v.mp4")
    assert (info.num_frames, info.height, info.width) == (30, 64, 64)
    assert info.fps == pytest.approx(10, rel=0.01)
    got = read_frames(tmp_path / "v.mp4", [0, 7, 29])
    assert got.shape == (3, 64, 64, 3) and got.dtype == np.uint8
    for row, t in enumerate([0, 7, 29]):
        # grey level survives H.264 within a few levels, and the white bar sits at row t
        background = got[row, 40:, :, :].astype(float).mean()
        assert abs(background - (4 * t + 20)) < 4
        assert got[row, t + 1, 32].min() > 200 and got[row, t + 6, 32].max() < 4 * t + 20 + 30


def test_bad_files_raise_data_errors_naming_the_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    truncated = tmp_path / "cut.mp4"
    write_mp4(tmp_path / "whole.mp4", _stripes(20), fps=10)
    truncated.write_bytes((tmp_path / "whole.mp4").read_bytes()[:300])
    for path in (empty, text, truncated, tmp_path / "missing.mp4"):
        with pytest.raises(DataError) as info:
            probe_video(path)
        assert str(path) in str(info.value)
