"""The infer command on test-made videos: containers, sizes, lengths, VFR, bad files, streaming."""

import csv
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from datamodules.synthetic_videos import render_clip
from datamodules.video_io import probe_video
from datamodules.windows import window_starts
from lightning_app.cli import cli_main
from lightning_app.infer import expand_sources, infer_main, output_names
from tests.conftest import TINY_ENCODERS, data_args


def write_video(path: Path, frames: np.ndarray, codec: str, fps: int = 24, pts=None, time_base=None) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if time_base is not None:
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
        for index, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            if pts is not None:
                video_frame.pts = pts[index]
                video_frame.time_base = time_base
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def checkpoint(clips_root, tmp_path_factory):
    root_dir = tmp_path_factory.mktemp("infer_run")
    cli = cli_main(["fit", "--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root), "--trainer.max_epochs", "1",
                    "--trainer.default_root_dir", str(root_dir), "--trainer.enable_progress_bar", "false",
                    "--trainer.enable_model_summary", "false"])
    return cli.trainer.checkpoint_callback.best_model_path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    made = {
        "clip.mp4": write_video(folder / "clip.mp4", render_clip(True, 100, 64, rng), "libx264"),
        "short.mkv": write_video(folder / "short.mkv", render_clip(False, 20, 48, rng), "libx264"),
        "wide.avi": write_video(folder / "wide.avi", render_clip(True, 90, 96, rng)[:, 16:70], "mpeg4"),
        "web.webm": write_video(folder / "web.webm", render_clip(False, 70, 64, rng), "libvpx-vp9"),
        "phone.mov": write_video(folder / "phone.mov", render_clip(True, 66, 32, rng), "libx264"),
    }
    # variable frame rate: 40 frames 1/10 s apart, then 40 frames 1/40 s apart
    pts = [4 * i for i in range(40)] + [160 + i for i in range(40)]
    made["vfr.mp4"] = write_video(folder / "vfr.mp4", render_clip(False, 80, 64, rng), "libx264", pts=pts,
                                  time_base=Fraction(1, 40))
    return made


def _rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_infer_on_containers_sizes_and_lengths(checkpoint, videos, tmp_path):
    out = tmp_path / "out"
    code = infer_main(["--ckpt_path", checkpoint, "--video", *map(str, videos.values()), "--out", str(out), "--device", "cpu"])
    assert code == 0
    for name, path in videos.items():
        stem = Path(name).stem
        num_frames = probe_video(path).num_frames
        windows = _rows(out / stem / "windows.csv")
        frames = _rows(out / stem / "frames.csv")
        assert list(windows[0]) == ["start_frame", "end_frame", "start_time", "end_time", "probability"]
        assert list(frames[0]) == ["frame", "time", "probability"]
        assert len(frames) == num_frames
        assert [int(w["start_frame"]) for w in windows] == window_starts(num_frames, 64, 32)
        assert all(0.0 <= float(w["probability"]) <= 1.0 for w in windows)
        assert (out / stem / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert isinstance(json.loads((out / stem / "segments.json").read_text()), list)
        assert len(json.loads((out / stem / "windows.json").read_text())) == len(windows)
    short = _rows(out / "short" / "windows.csv")
    assert len(short) == 1 and (short[0]["start_frame"], short[0]["end_frame"]) == ("0", "20")
    report = json.loads((out / "summary.json").read_text())
    assert report["done"] == len(videos) and report["failed"] == 0


def test_frames_are_the_mean_of_their_windows(checkpoint, videos, tmp_path):
    out = tmp_path / "out"
    infer_main(["--ckpt_path", checkpoint, "--video", str(videos["clip.mp4"]), "--out", str(out), "--device", "cpu"])
    windows = [(int(w["start_frame"]), int(w["end_frame"]), float(w["probability"])) for w in _rows(out / "clip" / "windows.csv")]
    frames = {int(f["frame"]): float(f["probability"]) for f in _rows(out / "clip" / "frames.csv")}
    assert [(s, e) for s, e, _ in windows] == [(0, 64), (32, 96), (36, 100)]  # 100 frames
    (_, _, p0), (_, _, p1), (_, _, p2) = windows
    assert frames[10] == pytest.approx(p0, abs=1e-5)  # only window 0
    assert frames[33] == pytest.approx((p0 + p1) / 2, abs=1e-5)  # windows 0 and 1
    assert frames[40] == pytest.approx((p0 + p1 + p2) / 3, abs=1e-5)  # all three
    assert frames[99] == pytest.approx((p1 + p2) / 2, abs=1e-5)


def test_variable_frame_rate_times_match_playback(checkpoint, videos, tmp_path):
    out = tmp_path / "out"
    infer_main(["--ckpt_path", checkpoint, "--video", str(videos["vfr.mp4"]), "--out", str(out), "--device", "cpu"])
    frames = _rows(out / "vfr" / "frames.csv")
    times = [float(f["time"]) for f in frames]
    assert times[39] == pytest.approx(3.9, abs=0.01) and times[40] == pytest.approx(4.0, abs=0.01)
    assert times[79] == pytest.approx(4.975, abs=0.01)  # not 79 / average fps
    windows = _rows(out / "vfr" / "windows.csv")
    assert float(windows[0]["start_time"]) == pytest.approx(0.0, abs=0.01)
    assert float(windows[0]["end_time"]) == pytest.approx(4.6, abs=0.01)  # end of frame 63 = 4.575 + 0.025


def test_streaming_gives_the_batch_predictions(checkpoint, videos, tmp_path):
    for name in ("clip.mp4", "short.mkv"):
        stem = Path(name).stem
        infer_main(["--ckpt_path", checkpoint, "--video", str(videos[name]), "--out", str(tmp_path / "batch"), "--device", "cpu"])
        # a .mkv as a file still being written (--follow): here it is complete, so it ends after 0.2 s idle
        follow = ["--follow", "0.2"] if name.endswith(".mkv") else []
        infer_main(["--ckpt_path", checkpoint, "--video", str(videos[name]), "--out", str(tmp_path / "stream"), "--device", "cpu",
                    "--stream", *follow])
        batch, stream = _rows(tmp_path / "batch" / stem / "windows.csv"), _rows(tmp_path / "stream" / stem / "windows.csv")
        assert [(r["start_frame"], r["end_frame"]) for r in batch] == [(r["start_frame"], r["end_frame"]) for r in stream]
        for b, s in zip(batch, stream):
            assert float(s["probability"]) == pytest.approx(float(b["probability"]), abs=1e-4)
            assert float(s["start_time"]) == pytest.approx(float(b["start_time"]), abs=0.05)


def test_bad_files_are_reported_and_good_ones_finish(checkpoint, videos, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "notes.mp4").write_text("not a video\n" * 20)
    (bad / "cut.mp4").write_bytes(videos["clip.mp4"].read_bytes()[:400])
    with av.open(str(bad / "audio.mp4"), mode="w") as container:  # audio only
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out = tmp_path / "out"
    code = infer_main(["--ckpt_path", checkpoint, "--video", str(videos["clip.mp4"]), str(bad), str(tmp_path / "missing.mp4"),
                       "--out", str(out), "--device", "cpu"])
    assert code == 1
    report = json.loads((out / "summary.json").read_text())
    failed = {Path(e["video"]).name for e in json.loads((out / "errors.json").read_text())}
    assert failed == {"empty.mp4", "notes.mp4", "cut.mp4", "audio.mp4", "missing.mp4"}
    assert report["done"] == 1 and report["videos"][0]["video"] == "clip"
    assert "1 video(s) done, 5 failed" in capsys.readouterr().out


def test_sources_and_names():
    sources, errors = expand_sources(["/definitely/not/here.mp4", "rtsp://camera/stream"], stream=True)
    assert sources == ["rtsp://camera/stream"] and errors[0]["reason"] == "no such file or folder"
    assert output_names(["a/clip.mp4", "b/clip.mp4", "c/other.mkv"]) == ["clip", "clip_2", "other"]


def test_threshold_is_a_number_the_models_or_the_best_of_the_checkpoints_validation(tmp_path):
    import json

    from lightning_app.errors import ConfigError
    from lightning_app.infer import resolve_threshold

    folder = tmp_path / "lightning_logs" / "version_0"
    (folder / "checkpoints").mkdir(parents=True)
    best, last = folder / "checkpoints" / "epoch03.ckpt", folder / "checkpoints" / "last.ckpt"
    (folder / "summary.json").write_text(json.dumps({"ckpt_path": str(best), "val/frame_best_threshold": 0.37}))
    assert resolve_threshold(None, best, 0.5) == 0.5 and resolve_threshold("0.2", best, 0.5) == 0.2
    assert resolve_threshold("best", best, 0.5) == 0.37
    with pytest.raises(ConfigError, match="--threshold best: no validation of .*last.ckpt with a best threshold"):
        resolve_threshold("best", last, 0.5)  # the summary is of the best checkpoint, not of this one
    with pytest.raises(ConfigError, match="--threshold must be a number or best, got 'high'"):
        resolve_threshold("high", best, 0.5)


def test_an_ensemble_shares_its_encoders_and_averages_its_members(clips_root):
    import torch

    from datamodules.window_source import VideoWindowSource
    from datamodules.windows import WindowSpec
    from lightning_app.inference import VideoPredictor
    from models.lit_module import VideoFusionModule

    tiny = dict(video_encoder={"name": "videoprism-tiny"}, clip_encoder={"name": "clip-tiny"},
                captioner={"name": "blip-tiny"}, hidden_dim=16)
    torch.manual_seed(0)
    members = [VideoFusionModule(**tiny), VideoFusionModule(**tiny)]
    spec = WindowSpec(64, 32, {"video": 16, "image": 16, "text": 4}, 32)
    alone = [VideoPredictor(member, spec) for member in members]
    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    chunk = next(iter(VideoWindowSource(path, spec)))
    singles = [predictor.predict_chunk(chunk, path) for predictor in alone]
    ensemble = VideoPredictor(members, spec)
    assert members[1].extractor is members[0].extractor  # one copy of the frozen encoders
    assert np.allclose(ensemble.predict_chunk(chunk, path), np.mean(singles, axis=0), atol=1e-6)
    assert not np.allclose(singles[0], singles[1])  # two different members
