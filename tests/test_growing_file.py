"""Following a video file while it is written: windows come out before the writer is done."""

import threading
import time

import av
import numpy as np
import torch

from datamodules.batch import stream_frames
from datamodules.growing_file import GrowingFile
from datamodules.window_source import LiveWindowSource
from datamodules.synthetic_videos import render_clip
from datamodules.windows import WindowSpec

COUNTS = {"video": 8, "image": 8, "text": 2}


def _mkv_bytes(path, frames, fps=24) -> bytes:
    with av.open(str(path), mode="w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"tune": "zerolatency"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path.read_bytes()


def test_reads_on_as_the_file_grows_and_ends_after_idle(tmp_path):
    path = tmp_path / "growing.bin"
    path.write_bytes(b"abc")
    handle = GrowingFile(path, idle_seconds=0.3, poll_seconds=0.01)
    assert handle.read(10) == b"abc" and not handle.seekable()
    threading.Timer(0.1, lambda: path.open("ab").write(b"def")).start()
    assert handle.read(10) == b"def" and handle.waited > 0
    started = time.monotonic()
    assert handle.read(10) == b""
    assert time.monotonic() - started >= 0.3
    handle.close()


def test_stream_reader_follows_a_recording(tmp_path):
    frames = render_clip(True, 96, 32, np.random.default_rng(0))
    data = _mkv_bytes(tmp_path / "whole.mkv", frames)
    finished = list(LiveWindowSource(str(tmp_path / "whole.mkv"), WindowSpec(32, 16, COUNTS, None)))

    target = tmp_path / "recording.mkv"
    target.write_bytes(data[:4096])  # the recorder has written its header and a few frames
    done = {}

    def record():
        for offset in range(4096, len(data), 2048):
            time.sleep(0.03)
            with target.open("ab") as handle:
                handle.write(data[offset : offset + 2048])
        done["at"] = time.perf_counter()

    writer = threading.Thread(target=record)
    writer.start()
    followed = list(LiveWindowSource(str(target), WindowSpec(32, 16, COUNTS, None), follow_seconds=1.0))
    writer.join()
    assert [int(w["starts"][0]) for w in followed] == [int(w["starts"][0]) for w in finished]
    for a, b in zip(followed, finished):
        assert all(torch.equal(stream_frames(a)[k], stream_frames(b)[k]) for k in COUNTS)
    assert followed[0]["ready"] < done["at"]  # the first window came out while the file was still growing
