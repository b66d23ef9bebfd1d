import av
import numpy as np
import pytest

from datamodules import forward_decoder
from datamodules.forward_decoder import ForwardDecoder
from datamodules.synthetic_videos import render_clip
from datamodules.video_io import PyAVFrames, SequentialFrameReader, read_frames
from lightning_app.errors import DataError


def _write(path, frames, pix_fmt="yuv420p", codec="libx264", options=None):
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=24)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        stream.options = options or {}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_frames_are_decords_and_decord_is_closed(clips_root):
    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    reader = SequentialFrameReader(path, 16, in_thread=True)
    assert reader._forward is not None and reader._reader is None  # no decord thread left running
    expected = read_frames(path, range(len(reader)), 16)
    assert np.array_equal(reader.get(list(range(0, 40, 3))), expected[0:40:3])
    reader.release_before(60)
    assert np.array_equal(reader.get([60, 61, 70]), expected[[60, 61, 70]])
    fresh = SequentialFrameReader(path, 16, in_thread=True)
    fresh.get([30])
    fresh.release_before(31)
    assert np.array_equal(fresh.get([3, 4]), expected[[3, 4]])  # an earlier frame: decoded again from the start
    assert reader._forward is not None  # never gave up


def test_b_frames_and_noise_match_decord(tmp_path):
    rng = np.random.default_rng(0)
    noise = _write(tmp_path / "noise.mp4", rng.integers(0, 256, (8, 90, 160, 3), dtype=np.uint8))
    bframes = _write(tmp_path / "bframes.mp4", render_clip(True, 60, 64, rng), options={"bf": "3", "g": "20"})
    for path in (noise, bframes):
        reader = SequentialFrameReader(path, None, in_thread=True)
        assert reader._forward is not None
        indices = list(range(len(reader)))
        assert np.array_equal(reader.get(indices), read_frames(path, indices)), path.name


def test_odd_sizes_stay_with_decord(tmp_path):
    # decord's FFmpeg and PyAV's convert odd-sized pictures differently: no in-thread decoding
    path = _write(tmp_path / "odd.mp4", np.random.default_rng(1).integers(0, 256, (4, 37, 50, 3), dtype=np.uint8),
                  codec="mpeg4")
    reader = SequentialFrameReader(path, None, in_thread=True)
    assert reader._forward is None and reader._reader is not None
    assert np.array_equal(reader.get([0, 3]), read_frames(path, [0, 3]))


def test_a_frame_at_another_time_than_decords_hands_over_to_decord(clips_root, monkeypatch):
    path = sorted((clips_root / "clips").glob("*.mp4"))[1]
    original = ForwardDecoder.open

    def shifted(cls, p, decord_reader):
        decoder = original(p, decord_reader)
        decoder.times = decoder.times.copy()
        decoder.times[10:] += 0.5  # as if PyAV numbered the frames differently from frame 10 on
        return decoder

    monkeypatch.setattr(ForwardDecoder, "open", classmethod(shifted))
    reader = SequentialFrameReader(path, None, in_thread=True)
    assert np.array_equal(reader.get([0, 5]), read_frames(path, [0, 5]))
    assert reader._forward is not None
    assert np.array_equal(reader.get([9, 10, 12]), read_frames(path, [9, 10, 12]))  # frame 10: decord
    assert reader._forward is None and reader._reader is not None


def test_the_fallback_decoder_goes_back_to_the_start_for_an_earlier_frame(clips_root):
    path = sorted((clips_root / "clips").glob("*.mp4"))[2]
    frames = PyAVFrames(path)
    expected = read_frames(path, [3, 4, 20, 30])
    assert np.array_equal(frames.get_batch([20, 30]), expected[2:])
    assert np.array_equal(frames.get_batch([3, 4]), expected[:2])
    with pytest.raises(DataError, match="ends before frame"):
        frames.get_batch([10_000])
    frames.close()


def test_pixel_formats_it_takes_on():
    assert "yuv420p" in forward_decoder.SAME_AS_DECORD and "yuv420p10le" not in forward_decoder.SAME_AS_DECORD
