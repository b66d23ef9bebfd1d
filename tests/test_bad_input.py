"""Bad input of every kind, fed to the data pipeline, ``extract``, ``infer`` and the config parser.

Each case must end in a clear message (one ``error: ...`` line and exit status 2 for a user
error; an entry in ``errors.json`` and exit status 1 from ``extract`` / ``infer``, the good
files finished all the same), in a documented skip with a count, or in a correct result.
Never a hang (the commands run as subprocesses under a timeout), a traceback from inside a
library, a silent wrong answer, or a lost or modified file.

The video zoo below goes through ONE ``extract`` run and ONE ``infer`` run together.

| input | data pipeline (in-process) | ``extract`` / ``infer`` (subprocess) |
|---|---|---|
| zero-byte .mp4 | DataError "the file is empty"; ``skip`` counts it | errors.json entry, the rest finishes |
| text file named .mp4 | DataError "FFmpeg cannot open it as a video" | errors.json entry |
| truncated .mp4 (index lost) | DataError "FFmpeg cannot open it ..." / "finds no video stream" | errors.json entry |
| audio-only .mp4 | DataError "FFmpeg finds no video stream in it (audio only, ...)" | errors.json entry |
| header declares 100 frames, file cut inside a packet | DataError "the file is truncated or corrupt" | errors.json entry; ``--stream`` keeps what decodes and warns |
| header declares 100 frames, 60 whole packets left | 60 frames, times to 2.5 s | 60 frames; infer warns "declares 100 frames" |
| corrupt packets mid-file | DataError "the video stream holds corrupt data" when read | (stream: warns) |
| 1-frame video | one padded window | one window, one frame row |
| 4000x3000, 3 frames | decoded in bounded batches, resized | one window |
| 321x179 (odd size, MPEG-4 AVI) | decoded, matches the source | ok |
| grayscale (gray pix_fmt) | RGB with equal channels | ok |
| 10-bit (yuv420p10le) | 8-bit RGB matching the source | ok (skipped if libx264 lacks it) |
| display-matrix rotation (phone portrait) | upright from decord, the PyAV fallback and the stream reader | batch and ``--stream`` agree |
| NaN / Inf in cached features | refused when written and when read | ``fit``: ``error: feature cache file ...`` |
| DVD label 2 / -1, bad or out-of-range segments | DataError naming the manifest line | |
| Aff-Wild2 valence 1.7 / nan | DataError naming file and line; ``skip`` counts it | |
| manifest with a duplicate / a missing video | DataError naming both lines / the path; ``skip`` counts | |
| config: wrong type, unknown key, bad window | exit 2 naming the key | exit 2 |
| config: ``--data.batch_size 0``, ``--data.num_workers -1`` | exit 2 naming the key | |

Also covered elsewhere: ``tests/test_video_io.py`` (probing empty, text, truncated files),
``tests/test_infer.py::test_bad_files_are_reported_and_good_ones_finish``,
``tests/test_extract.py::test_bad_video_is_recorded_and_the_rest_goes_on`` and the truncated or
stale cache tests there, ``tests/test_dvd.py`` (manifest columns, paths outside the root),
``tests/test_affwild2.py`` (annotation lines, frame count mismatch) and
``tests/test_cli.py::test_bad_input_gives_one_clear_line`` (missing config, unknown encoder).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from datamodules.affwild2 import AffWild2DataModule
from datamodules.batch import stream_frames
from datamodules.dvd import DVDDataModule, read_manifest, write_manifest
from datamodules.feature_cache import FeatureCache, key_content
from datamodules.window_source import LiveWindowSource
from datamodules.synthetic_videos import render_clip
from datamodules.video_io import (PyAVFrames, SequentialFrameReader, declared_frame_count, frame_times, probe_video,
                                  read_frames)
from datamodules.framing import resolve_framing
from datamodules.windows import WindowSpec, window_starts
from lightning_app.__main__ import main
from lightning_app.cli import cli_main
from lightning_app.errors import ConfigError, DataError
from lightning_app.infer import infer_main
from models.lit_module import encoder_specs
from tests.conftest import TINY_ENCODERS, data_args

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 120  # seconds: a command still running by then is a hang
COUNTS = {"video": 16, "image": 16, "text": 4}
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
TINY_SPECS = encoder_specs({"name": "videoprism-tiny", "seed": 0}, {"name": "clip-tiny", "seed": 0},
                           {"name": "blip-tiny", "seed": 0})

# what each unreadable file of the zoo must be reported with (a pattern)
UNREADABLE = {
    "empty.mp4": "the file is empty",
    "notes.mp4": "FFmpeg cannot open it as a video",
    "cut.mp4": "FFmpeg (cannot open it as a video|finds no video stream)",  # depends on where the cut falls
    "audio.mp4": r"FFmpeg finds no video stream in it \(audio only",
    "cut_mid_packet.mp4": "the file is truncated or corrupt",
}
# frames each readable file really holds, and its picture size (height, width) as displayed
READABLE = {
    "good.mp4": (72, (32, 32)),
    "one_frame.mp4": (1, (32, 32)),
    "huge.mp4": (3, (3000, 4000)),
    "tail_cut.mp4": (60, (32, 32)),
    "odd.avi": (40, (179, 321)),
    "gray.mp4": (40, (32, 32)),
    "tenbit.mp4": (40, (32, 32)),
    "rotated.mp4": (40, (64, 48)),
}
HUGE_COLOUR = (200, 120, 40)


def encode(path: Path, frames: np.ndarray, codec: str = "libx264", pix_fmt: str = "yuv420p", rotation=None,
           options=None, container_options=None, fps: int = 24) -> Path:
    """Encode RGB frames (T, H, W, 3); ``rotation`` sets the display matrix (degrees counter-clockwise)."""
    with av.open(str(path), mode="w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        stream.options = options or {}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def packet_offsets(path: Path) -> list[tuple[int, int]]:
    with av.open(str(path)) as container:
        return [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]


def portrait() -> np.ndarray:
    """40 frames of a 64 x 48 portrait picture: bright top half, dark bottom half."""
    frames = np.full((40, 64, 48, 3), 30, np.uint8)
    frames[:, :32] = 220
    return frames


def top_minus_bottom(frames: np.ndarray) -> float:
    half = frames.shape[1] // 2
    return float(frames[:, :half].mean() - frames[:, half:].mean())


def can_encode_10_bit() -> bool:
    try:
        return "yuv420p10le" in [f.name for f in av.codec.Codec("libx264", "w").video_formats or []]
    except Exception:
        return False


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    """A DVD-style root: ``videos/`` holds every kind of bad and odd video, ``manifest.csv`` lists them all."""
    root = tmp_path_factory.mktemp("zoo")
    videos = root / "videos"
    videos.mkdir()
    rng = np.random.default_rng(0)
    good = encode(videos / "good.mp4", render_clip(True, 72, 32, rng))
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "notes.mp4").write_text("these are my notes, not a video\n" * 40)
    (videos / "cut.mp4").write_bytes(good.read_bytes()[:400])  # the index (moov, at the end) is lost
    with av.open(str(videos / "audio.mp4"), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    encode(videos / "one_frame.mp4", render_clip(False, 1, 32, rng))
    huge = np.empty((3, 3000, 4000, 3), np.uint8)
    huge[:] = HUGE_COLOUR
    encode(videos / "huge.mp4", huge, options={"preset": "ultrafast"})
    # the index first (faststart), so it still declares 100 frames once the file loses its tail
    whole = encode(root / "whole.mp4", render_clip(False, 100, 32, rng), container_options={"movflags": "faststart"})
    packets = packet_offsets(whole)
    (videos / "tail_cut.mp4").write_bytes(whole.read_bytes()[: packets[60][0]])
    (videos / "cut_mid_packet.mp4").write_bytes(whole.read_bytes()[: packets[60][0] + packets[60][1] // 2])
    whole.unlink()
    sources = {"odd.avi": render_clip(False, 40, 400, rng)[:, :179, :321], "tenbit.mp4": render_clip(False, 40, 32, rng)}
    encode(videos / "odd.avi", sources["odd.avi"], codec="mpeg4", options={"qscale": "2"})
    encode(videos / "gray.mp4", render_clip(False, 40, 32, rng), pix_fmt="gray")
    if can_encode_10_bit():
        encode(videos / "tenbit.mp4", sources["tenbit.mp4"], pix_fmt="yuv420p10le", options={"crf": "12"})
    (root / "sources").mkdir()
    for name, frames in sources.items():  # what the decoders must give back
        np.save(root / "sources" / f"{name}.npy", frames)
    # a phone held upright: a landscape picture stored with a 90 degree clockwise display rotation
    encode(videos / "rotated.mp4", np.ascontiguousarray(np.rot90(portrait(), k=1, axes=(1, 2))), rotation=-90)
    names = sorted(p.name for p in videos.iterdir())
    write_manifest(root / "manifest.csv", [{"video": f"videos/{name}", "label": i % 2, "fold": (i // 2) % 2}
                                           for i, name in enumerate(names)])
    return root


def readable(zoo: Path) -> dict[str, tuple[int, tuple[int, int]]]:
    return {name: spec for name, spec in READABLE.items() if (zoo / "videos" / name).exists()}


def fingerprints(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def run_command(*args: str) -> subprocess.CompletedProcess:
    """``python -m lightning_app ARGS`` with a timeout: a hang fails the test instead of stalling it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny models on few cores: threads cost more than they give
    return subprocess.run([sys.executable, "-m", "lightning_app", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=TIMEOUT, env=env)


def assert_clean_reason(reason: str) -> None:
    """One line in the user's terms: no traceback, no decoder source location."""
    assert "\n" not in reason and "Traceback" not in reason, reason
    assert ".cc:" not in reason and "Check failed" not in reason, reason


def _run_main(monkeypatch, capsys, *args) -> tuple[int, list[str]]:
    """``python -m lightning_app ARGS`` in-process: its exit status and stderr lines."""
    monkeypatch.setattr(sys, "argv", ["lightning_app", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return exit_info.value.code, captured.err.strip().splitlines()


@pytest.fixture(scope="module")
def checkpoint(clips_root, tmp_path_factory) -> str:
    root_dir = tmp_path_factory.mktemp("bad_input_fit")
    cli = cli_main(["fit", "--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root), *QUIET,
                    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
                    "--trainer.default_root_dir", str(root_dir)])
    return cli.trainer.checkpoint_callback.best_model_path


# -- the data pipeline, in-process ------------------------------------------------------------------


def test_unreadable_videos_are_named_or_skipped_and_counted(zoo):
    dm = DVDDataModule(str(zoo), frame_size=32, num_workers=0, on_bad_video="skip")
    with pytest.warns(UserWarning, match="skipping"):
        dm.setup("fit")
    skipped = {message.split(":")[0]: message for message in dm.skipped["videos"]}
    assert set(skipped) == {f"videos/{name}" for name in UNREADABLE}
    for name, reason in UNREADABLE.items():
        assert re.search(reason, skipped[f"videos/{name}"])
        assert_clean_reason(skipped[f"videos/{name}"])
    strict = DVDDataModule(str(zoo), frame_size=32, num_workers=0)
    with pytest.raises(DataError, match=r"cannot read video .*videos/\w+\.mp4: .*set --data.on_bad_video skip"):
        strict.setup("fit")


def test_odd_but_readable_videos_give_every_window(zoo):
    dm = DVDDataModule(str(zoo), frame_size=32, num_workers=0, on_bad_video="skip")
    with pytest.warns(UserWarning):
        dm.setup("fit")
    windows = [w for name in ("train", "val") for w in dm.datasets[name].windows]
    for name, (num_frames, size) in readable(zoo).items():
        path = zoo / "videos" / name
        info = probe_video(path)
        assert (info.num_frames, (info.height, info.width)) == (num_frames, size), name
        starts, ends = frame_times(path)
        assert len(starts) == num_frames and np.all(np.diff(starts) > 0) and np.all(ends > starts), name
        mine = [w for w in windows if w.video_id == f"videos/{name}"]
        assert [w.start for w in mine] == window_starts(num_frames, 64, 32), name
    for dataset in dm.datasets.values():  # every window decodes, one frame size for all
        for index in range(len(dataset)):
            item = dataset[index]
            streams = {name: frames[0] for name, frames in stream_frames(item).items()}  # a batch of one
            assert streams["video"].shape == (16, 32, 32, 3) and streams["text"].shape == (4, 32, 32, 3)
            assert int(item["frame_mask"].sum()) == item["end"] - item["start"]


def test_decoded_pictures_match_what_was_encoded(zoo):
    videos = zoo / "videos"
    huge = read_frames(videos / "huge.mp4", [0, 2])
    assert huge.shape == (2, 3000, 4000, 3)
    assert np.abs(huge[:, ::50, ::50].astype(float).mean((0, 1, 2)) - HUGE_COLOUR).max() < 6
    gray = read_frames(videos / "gray.mp4", range(40))
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    # within a few grey levels (a wrong stride or bit depth is off by tens or hundreds)
    for name in ("odd.avi", "tenbit.mp4"):
        if (videos / name).exists():
            source = np.load(zoo / "sources" / f"{name}.npy").astype(float)
            assert np.abs(read_frames(videos / name, range(40)).astype(float) - source).mean() < 6, name


@pytest.mark.skipif(not can_encode_10_bit(), reason="this PyAV's libx264 cannot encode yuv420p10le")
def test_ten_bit_video_is_in_the_zoo(zoo):
    assert probe_video(zoo / "videos" / "tenbit.mp4").num_frames == 40


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotated_video_is_upright_in_every_reader(tmp_path, rotation):
    stored = np.ascontiguousarray(np.rot90(portrait(), k=-rotation // 90, axes=(1, 2)))
    path = encode(tmp_path / "phone.mp4", stored[:4], rotation=rotation)
    batch = read_frames(path, range(4))  # decord
    fallback = PyAVFrames(path).get_batch(range(4))  # PyAV, for files decord cannot copy out
    stream = stream_frames(next(iter(LiveWindowSource(str(path), WindowSpec(64, 32, {"all": 4}, None)))))["all"][0].numpy()
    for frames in (batch, fallback, stream):
        assert frames.shape == (4, 64, 48, 3)
        assert top_minus_bottom(frames) > 150


def test_a_header_that_promises_more_frames_than_the_file_holds(zoo):
    videos = zoo / "videos"
    assert declared_frame_count(videos / "tail_cut.mp4") == 100 and probe_video(videos / "tail_cut.mp4").num_frames == 60
    assert frame_times(videos / "tail_cut.mp4")[1][-1] == pytest.approx(60 / 24, abs=0.01)
    reader = LiveWindowSource(str(videos / "tail_cut.mp4"), WindowSpec(64, 32, COUNTS, 32))
    assert [(int(w["starts"][0]), int(w["ends"][0])) for w in reader] == [(0, 60)]
    assert "declares 100 frames but only 60 can be read" in reader.stopped_early
    # cut inside a packet: decord gives up, the stream reader keeps what decodes and says so
    with pytest.raises(DataError, match="the file is truncated or corrupt"):
        probe_video(videos / "cut_mid_packet.mp4")
    reader = LiveWindowSource(str(videos / "cut_mid_packet.mp4"), WindowSpec(64, 32, COUNTS, 32))
    assert len(list(reader)) == 1 and 0 < reader.num_frames < 60  # how many depends on the decoder's threads
    assert reader.stopped_early.startswith(f"decoding stopped after {reader.num_frames} frames")


def test_readers_kept_open_read_every_odd_video_as_decord_does(zoo):
    # the by_video order keeps readers open, decoding in their own thread where PyAV's frames
    # are decord's (forward_decoder.py); everywhere else they are decord's readers
    in_thread = set()
    for name, (num_frames, _) in readable(zoo).items():
        path = zoo / "videos" / name
        kept_open = SequentialFrameReader(path, 32, in_thread=True)
        indices = list(range(num_frames))
        assert np.array_equal(kept_open.get(indices), read_frames(path, indices, 32)), name
        if kept_open._forward is not None:
            in_thread.add(name)
    assert {"good.mp4", "gray.mp4", "tail_cut.mp4", "one_frame.mp4", "huge.mp4"} <= in_thread
    assert not in_thread & {"odd.avi", "tenbit.mp4", "rotated.mp4"}


def test_corrupt_packets_mid_file_are_a_clean_error(tmp_path):
    whole = encode(tmp_path / "whole.mp4", render_clip(False, 100, 32, np.random.default_rng(3)))
    data = bytearray(whole.read_bytes())
    for position, size in packet_offsets(whole)[30:40]:
        data[position : position + size] = bytes(size)
    (tmp_path / "zeroed.mp4").write_bytes(bytes(data))
    # decord's decoding thread may meet the bad packets while probing the first frame, or only later
    with pytest.raises(DataError, match=r"cannot decode .* of video .*zeroed.mp4: the video stream holds corrupt data"):
        assert probe_video(tmp_path / "zeroed.mp4").num_frames == 100
        read_frames(tmp_path / "zeroed.mp4", range(0, 100, 4))
    with pytest.raises(DataError, match=r"cannot decode .* of video .*zeroed.mp4: the video stream holds corrupt data"):
        SequentialFrameReader(tmp_path / "zeroed.mp4", None, in_thread=True).get(list(range(0, 100, 4)))
    reader = LiveWindowSource(str(tmp_path / "zeroed.mp4"), WindowSpec(64, 32, COUNTS, 32))
    list(reader)
    assert reader.num_frames < 100 and "decoding stopped" in reader.stopped_early


# -- NaN / Inf in the feature cache -----------------------------------------------------------------


def _cache(cache_dir: Path) -> FeatureCache:
    spec = WindowSpec(64, 32, COUNTS, 32, resolve_framing("encoders", TINY_SPECS))  # as the datamodule keys it
    cache = FeatureCache(cache_dir, key_content(TINY_SPECS, spec))
    cache.prepare()
    return cache


def _fill_cache(cache: FeatureCache, root: Path, dims: dict[str, int], poison=None) -> dict[str, Path]:
    """Features for every video of ``root``'s manifest; ``poison(name, features)`` may spoil some,
    written as a broken tool would (past ``FeatureCache.write``'s check)."""
    paths = {}
    rng = np.random.default_rng(0)
    for record in read_manifest(root / "manifest.csv", root):
        name = str(record.path.relative_to(root))
        num_frames = probe_video(record.path).num_frames
        starts = np.asarray(window_starts(num_frames, 64, 32))
        features = {s: rng.standard_normal((len(starts), COUNTS[s], dims[s])).astype(np.float32) for s in COUNTS}
        cache.write(name, record.path, features, starts, np.minimum(starts + 64, num_frames), num_frames,
                    [["a caption"] * 4] * len(starts))
        if poison is not None and poison(name, features):
            path = cache.path(name)
            with safe_open(str(path), framework="np") as handle:
                metadata, tensors = handle.metadata(), {k: handle.get_tensor(k) for k in handle.keys()}
            save_file({**tensors, **features}, str(path), metadata=metadata)
        paths[name] = cache.path(name)
    cache.mark_complete(sorted(paths))
    return paths


def test_features_with_nan_or_inf_are_never_written(tmp_path):
    cache = _cache(tmp_path / "cache")
    source = tmp_path / "v.mp4"
    source.write_bytes(b"video")
    for bad in (np.nan, np.inf):
        features = {name: np.zeros((3, n, 8), np.float32) for name, n in COUNTS.items()}
        features["image"][1, 5, 2] = bad
        message = r"the image features of v.mp4 hold NaN or Inf in 1 of 3 windows \(first at frame 32\)"
        with pytest.raises(DataError, match=message):
            cache.write("v.mp4", source, features, np.array([0, 32, 64]), np.array([64, 96, 128]), 128, [["x"] * 4] * 3)
        assert not cache.path("v.mp4").exists() and not list(cache.videos_dir.glob(".*.tmp"))


def test_nan_or_inf_in_the_cache_never_reaches_training(clips_root, tmp_path):
    def poison(name, features):
        if name.endswith("000.mp4"):
            features["video"][-1, 3, 0] = np.nan
            return True
        if name.endswith("001.mp4"):
            features["text"][0, 0, :] = np.inf
            return True
        return False

    _fill_cache(_cache(tmp_path / "cache"), clips_root, {"video": 8, "image": 8, "text": 8}, poison)
    seen = []
    for fold in (0, 1):
        dm = DVDDataModule(str(clips_root), fold=fold, num_folds=2, frame_size=32, num_workers=0, encoders=TINY_SPECS,
                           cache_dir=str(tmp_path / "cache"), use_cache="always")
        dm.setup("validate")
        assert dm.uses_cache
        for index in range(len(dm.datasets["val"])):
            try:
                item = dm.datasets["val"][index]
            except DataError as error:
                seen.append(str(error))
                continue
            assert all(bool(f.isfinite().all()) for f in item["features"].values())
    assert len(seen) == 2
    assert any(re.search(r"the video features of window \d+ hold NaN or Inf; delete the file and re-run extract", s)
               for s in seen)
    assert any("the text features of window 0 hold NaN or Inf" in s for s in seen)


def test_fit_on_a_nan_cache_ends_in_one_error_line(clips_root, tmp_path, monkeypatch, capsys):
    from models.feature_extractor import FrozenFeatureExtractor

    dims = FrozenFeatureExtractor(TINY_SPECS["video"], TINY_SPECS["clip"], TINY_SPECS["captioner"]).dims

    def poison(name, features):
        features["image"][:] = np.nan
        return True

    _fill_cache(_cache(tmp_path / "cache"), clips_root, dims, poison)
    code, err = _run_main(monkeypatch, capsys, "fit", "--config", "demo.yaml", "--config", "presets/tiny.yaml",
                          *data_args(clips_root), "--data.cache_dir", str(tmp_path / "cache"), "--data.use_cache", "always",
                          "--trainer.default_root_dir", str(tmp_path / "runs"), "--trainer.fast_dev_run", "true", *QUIET)
    assert code == 2
    assert re.fullmatch(r"error: feature cache file \S+\.safetensors: the image features of window \d+ hold NaN or Inf; "
                        r"delete the file and re-run extract", err[-1])


# -- labels and manifests -------------------------------------------------------------------------


@pytest.mark.parametrize("column, value, message", [
    ("label", "2", "line 2: label must be 0 or 1, got '2'"),
    ("label", "-1", "line 2: label must be 0 or 1, got '-1'"),
    ("segments", "-1-5", r"line 2: segment '-1-5' is not START-END \(two frame numbers >= 0\)"),
    ("segments", "10-5", "line 2: segment 10-5 is not a frame range"),
])
def test_dvd_labels_out_of_range_name_the_line(zoo, column, value, message):
    manifest = zoo / f"m_{column}.csv"
    write_manifest(manifest, [{"video": "videos/good.mp4", column: value}])
    with pytest.raises(DataError, match=message):
        read_manifest(manifest, zoo)[0].load_targets(72)


def test_segments_past_the_end_of_the_video(zoo):
    write_manifest(zoo / "manifest_segments.csv", [{"video": "videos/good.mp4", "segments": "10-80", "fold": 0},
                                                   {"video": "videos/gray.mp4", "segments": "0-20", "fold": 1}])
    dm = DVDDataModule(str(zoo), manifest="manifest_segments.csv", frame_size=32, num_workers=0, fold=1)
    with pytest.raises(DataError, match=r"line 2: segment 10-80 ends past the video's 72 frames \(tolerance 0\).*on_bad_video"):
        dm.setup("fit")
    tolerant = DVDDataModule(str(zoo), manifest="manifest_segments.csv", frame_size=32, num_workers=0, fold=1,
                             max_frame_mismatch=8)
    tolerant.setup("fit")
    assert tolerant.datasets["train"].targets[0].values[10:, 0].all()


def test_duplicate_and_missing_videos_in_a_manifest(zoo):
    write_manifest(zoo / "manifest_dupes.csv", [{"video": "videos/good.mp4", "label": 1},
                                                {"video": "videos/gray.mp4", "label": 0},
                                                {"video": "./videos//good.mp4", "label": 0}])
    with pytest.raises(DataError, match=r"line 4: './videos//good.mp4' is the video of line 2 again; list each video once"):
        read_manifest(zoo / "manifest_dupes.csv", zoo)
    write_manifest(zoo / "manifest_missing.csv", [
        {"video": f"videos/{name}", "label": i % 2, "fold": i % 2}
        for i, name in enumerate(["good.mp4", "gray.mp4", "gone.mp4"])])
    with pytest.raises(DataError, match=r"line 4: video not found: .*gone.mp4 \(set --data.on_bad_video skip"):
        DVDDataModule(str(zoo), manifest="manifest_missing.csv").records()
    dm = DVDDataModule(str(zoo), manifest="manifest_missing.csv", frame_size=32, num_workers=0, on_bad_video="skip")
    with pytest.warns(UserWarning, match="skipping videos/gone.mp4"):
        dm.setup("fit")
    assert len(dm.skipped["videos"]) == 1 and [r.video_id for r in dm.records()] == ["videos/good.mp4", "videos/gray.mp4"]


def test_affwild2_values_out_of_range(tmp_path):
    root = tmp_path / "aw"
    (root / "videos").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = {}
    for index, split in enumerate(("Train_Set", "Train_Set", "Validation_Set")):
        encode(root / "videos" / f"v{index}.mp4", render_clip(False, 40, 16, rng))
        (root / "VA_Estimation_Challenge" / split).mkdir(parents=True, exist_ok=True)
        lines[index] = ["valence,arousal"] + ["0.1,0.2"] * 40
    lines[1][7] = "1.7,0.2"
    lines[2][3] = "nan,0.2"
    for index, split in enumerate(("Train_Set", "Train_Set", "Validation_Set")):
        (root / "VA_Estimation_Challenge" / split / f"v{index}.txt").write_text("\n".join(lines[index]) + "\n")
    with pytest.raises(DataError, match=r"v1.txt, line 8: value 1.7 is outside \[-1, 1\].*on_bad_video skip"):
        AffWild2DataModule(str(root), split_mode="official", frame_size=16, num_workers=0).setup("fit")
    dm = AffWild2DataModule(str(root), split_mode="official", frame_size=16, num_workers=0, on_bad_video="skip")
    with pytest.raises(DataError, match=r"the val split .* has no usable window"):  # its only video is the bad one
        with pytest.warns(UserWarning):
            dm.setup("fit")
    assert [m.split(":")[0] for m in dm.skipped["videos"]] == ["v1", "v2"]
    assert "line 4: value nan is outside" in dm.skipped["videos"][1]


# -- config errors --------------------------------------------------------------------------------


def test_config_with_a_wrong_type_or_an_unknown_key(monkeypatch, capsys, clips_root, tmp_path):
    # one line each, naming the key
    code, err = _run_main(monkeypatch, capsys, "fit", "--config", "demo.yaml", "--data.batch_size", "abc")
    assert code == 2 and err == ["error: --data.batch_size: Not of type PositiveInt: invalid literal for int() with "
                                 "base 10: 'abc' (see `lightning_app fit --help`)"]
    code, err = _run_main(monkeypatch, capsys, "extract", "--config", "demo.yaml", "--data.batch_size", "abc")
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --data.batch_size: ") and "'abc'" in err[0]
    code, err = _run_main(monkeypatch, capsys, "fit", "--config", "demo.yaml", "--model.lr", "fast")
    assert code == 2 and err == ["error: --model.lr: Expected a <class 'float'>. Got value: fast (see `lightning_app fit --help`)"]
    code, err = _run_main(monkeypatch, capsys, "fit", "--config", "demo.yaml", "--model.hiden_dim", "3")
    assert code == 2 and err == ["error: unrecognized arguments: --model.hiden_dim 3 (see `lightning_app fit --help`)"]
    code, err = _run_main(monkeypatch, capsys, "infer", "--ckpt_path", "x.ckpt", "--video", "a.mp4", "--out", "o",
                          "--windows_per_batch", "abc")
    assert code == 2 and err[-1].endswith("error: argument --windows_per_batch: invalid int value: 'abc'")
    run = [*TINY_ENCODERS, *data_args(clips_root), "--trainer.default_root_dir", str(tmp_path),
           "--trainer.fast_dev_run", "true"]
    code, err = _run_main(monkeypatch, capsys, "fit", "--config", "demo.yaml", *run, "--data.window", "-3")
    assert code == 2
    assert err[-1] == "error: window and stride (--data.window, --data.stride) must be >= 1, got window=-3, stride=32"
    code, err = _run_main(monkeypatch, capsys, "fit", "--config", "demo.yaml", *run, "--data.text_frames", "100")
    assert code == 2 and err[-1].startswith("error: cannot sample 100 distinct positions from a 64-frame window")


def test_config_with_a_zero_batch_size_or_negative_workers(monkeypatch, capsys, clips_root, tmp_path):
    for key, value, reason in (("batch_size", 0, "Not of type PositiveInt: 0 does not conform to restriction v>0"),
                               ("num_workers", -1, "Not of type NonNegativeInt: -1 does not conform to restriction v>=0")):
        run = [*TINY_ENCODERS, *data_args(clips_root, **{key: value}), "--trainer.default_root_dir", str(tmp_path),
               "--trainer.fast_dev_run", "true"]
        code, err = _run_main(monkeypatch, capsys, "fit", "--config", "demo.yaml", *run)
        assert code == 2 and err == [f"error: --data.{key}: {reason} (see `lightning_app fit --help`)"]
    # and in Python, where no parser checks the types
    from datamodules.dvd import DVDDataModule
    with pytest.raises(ConfigError, match="--data.batch_size must be at least 1, got 0"):
        DVDDataModule(str(clips_root), batch_size=0)


# -- extract and infer on the whole zoo, one subprocess run each ----------------------------------


def test_extract_reports_each_bad_video_and_caches_the_rest(zoo, tmp_path):
    before = fingerprints(zoo / "videos")
    cache_dir = tmp_path / "cache"
    result = run_command("extract", "--config", "demo.yaml", "--config", "presets/tiny.yaml", *data_args(zoo),
                         "--data.cache_dir", str(cache_dir), "--trainer.default_root_dir", str(tmp_path / "runs"),
                         "--trainer.accelerator", "cpu", *QUIET)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]
    errors = {e["video"]: e["reason"] for e in json.loads(next(cache_dir.glob("*/errors.json")).read_text())}
    assert set(errors) == {f"videos/{name}" for name in UNREADABLE}
    for name, reason in UNREADABLE.items():
        assert re.search(reason, errors[f"videos/{name}"]) and str(zoo / "videos" / name) in errors[f"videos/{name}"]
        assert_clean_reason(errors[f"videos/{name}"])
        assert f"failed: videos/{name}: " in result.stderr
    from datamodules.feature_cache import read_index

    cached = {read_index(p)[0]["video"]: read_index(p) for p in cache_dir.glob("*/videos/*.safetensors")}
    assert set(cached) == {f"videos/{name}" for name in readable(zoo)}
    for name, (num_frames, _) in readable(zoo).items():
        metadata, starts, ends = cached[f"videos/{name}"]
        assert int(metadata["num_frames"]) == num_frames and starts.tolist() == window_starts(num_frames, 64, 32)
    assert not list(cache_dir.glob("*/complete.json"))
    assert fingerprints(zoo / "videos") == before


def _rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_infer_reports_each_bad_video_and_finishes_the_rest(zoo, checkpoint, tmp_path):
    before = fingerprints(zoo / "videos")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a file of the user's in the output folder
    result = run_command("infer", "--ckpt_path", checkpoint, "--video", str(zoo / "videos"), str(zoo / "absent.mp4"),
                         "--out", str(out), "--device", "cpu")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]
    errors = {Path(e["video"]).name: e["reason"] for e in json.loads((out / "errors.json").read_text())}
    assert set(errors) == {*UNREADABLE, "absent.mp4"}
    for name, reason in UNREADABLE.items():
        assert re.search(reason, errors[name])
        assert_clean_reason(errors[name])
    report = json.loads((out / "summary.json").read_text())
    done = {Path(v["source"]).name: v for v in report["videos"]}
    assert set(done) == set(readable(zoo)) and len({v["output"] for v in done.values()}) == len(done)
    for name, (num_frames, _) in readable(zoo).items():
        frames = _rows(out / Path(name).stem / "frames.csv")
        windows = _rows(out / Path(name).stem / "windows.csv")
        assert len(frames) == num_frames and [int(w["start_frame"]) for w in windows] == window_starts(num_frames, 64, 32)
        assert all(0.0 <= float(w["probability"]) <= 1.0 for w in windows), name
    assert done["tail_cut.mp4"]["frames"] == 60 and done["tail_cut.mp4"]["duration"] == pytest.approx(2.5, abs=0.01)
    assert "declares 100 frames but only 60 can be read" in done["tail_cut.mp4"]["warnings"][0]
    assert f"warning: {zoo / 'videos' / 'tail_cut.mp4'}: the container declares 100 frames" in result.stdout
    assert [k for k, v in done.items() if "warnings" in v] == ["tail_cut.mp4"]
    assert f"{len(done)} video(s) done, {len(errors)} failed" in result.stdout
    assert (out / "notes.txt").read_text() == "mine" and fingerprints(zoo / "videos") == before


def test_streaming_a_rotated_or_truncated_file(zoo, checkpoint, tmp_path):
    videos = zoo / "videos"
    args = ["--ckpt_path", checkpoint, "--device", "cpu"]
    infer_main([*args, "--video", str(videos / "rotated.mp4"), "--out", str(tmp_path / "batch")])
    code = infer_main([*args, "--stream", "--video", str(videos / "rotated.mp4"), str(videos / "tail_cut.mp4"),
                       str(videos / "cut_mid_packet.mp4"), "--out", str(tmp_path / "stream")])
    assert code == 0
    batch = _rows(tmp_path / "batch" / "rotated" / "windows.csv")
    stream = _rows(tmp_path / "stream" / "rotated" / "windows.csv")
    assert [float(r["probability"]) for r in stream] == pytest.approx([float(r["probability"]) for r in batch], abs=1e-4)
    report = {v["video"]: v for v in json.loads((tmp_path / "stream" / "summary.json").read_text())["videos"]}
    assert report["tail_cut"]["frames"] == 60 and "declares 100 frames" in report["tail_cut"]["warnings"][0]
    cut = report["cut_mid_packet"]
    assert cut["warnings"][0].startswith(f"decoding stopped after {cut['frames']} frames")
    assert "warnings" not in report["rotated"]



# -- checkpoints: every command that takes --ckpt_path -------------------------------------------

def _bad_checkpoint(kind: str, good: str, folder: Path) -> Path:
    path = folder / f"{kind}.ckpt"
    if kind == "truncated":
        path.write_bytes(Path(good).read_bytes()[:5000])
    elif kind == "not_a_checkpoint":
        path.write_text("video,label\na.mp4,1\n")
    elif kind == "torch_but_not_a_checkpoint":
        torch.save({"weights": torch.zeros(3)}, path)
    elif kind == "other_task":
        checkpoint = torch.load(good, map_location="cpu", weights_only=True)
        checkpoint["hyper_parameters"]["task"] = "valence_arousal"
        torch.save(checkpoint, path)
    return path


CKPT_COMMANDS = {
    "fit": ["fit", "--trainer.max_epochs", "1"],
    "validate": ["validate"],
    "test": ["test"],
    "predict": ["predict"],
}


@pytest.mark.parametrize("kind", ["missing", "truncated", "not_a_checkpoint", "torch_but_not_a_checkpoint", "other_task"])
@pytest.mark.parametrize("command", [*CKPT_COMMANDS, "infer"])
def test_a_bad_checkpoint_is_one_error_line_and_left_as_it_was(command, kind, checkpoint, clips_root, tmp_path,
                                                              monkeypatch, capsys):
    if command == "infer" and kind == "other_task":
        pytest.skip("infer builds the model the checkpoint names, whatever its task")
    path = _bad_checkpoint(kind, checkpoint, tmp_path)
    before = path.read_bytes() if path.exists() else None
    if command == "infer":
        args = ["infer", "--ckpt_path", str(path), "--video", str(clips_root), "--out", str(tmp_path / "out"), "--device", "cpu"]
    else:
        args = [*CKPT_COMMANDS[command], "--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root), *QUIET,
                "--trainer.default_root_dir", str(tmp_path / "runs"), "--ckpt_path", str(path)]
    code, err = _run_main(monkeypatch, capsys, *args)
    errors = [line for line in err if line.startswith("error:")]
    assert code == 2 and len(errors) == 1, err
    assert ("trained for task 'valence_arousal'" in errors[0]) if kind == "other_task" else (str(path) in errors[0]), errors[0]
    assert_clean_reason(errors[0])
    assert (path.read_bytes() if path.exists() else None) == before  # never overwritten or deleted


def test_a_run_that_fails_before_training_leaves_no_empty_run(tmp_path, monkeypatch, capsys):
    """dvd.yaml logs to W&B (offline here): the failed run's version folder is removed and its W&B
    run is finished as failed; the folder of a run that had produced something is kept."""
    from tests.wandb_records import read_run

    kept = tmp_path / "runs" / "lightning_logs" / "version_0"
    (kept / "checkpoints").mkdir(parents=True)
    (kept / "checkpoints" / "last.ckpt").write_bytes(b"an earlier run's checkpoint")
    code, err = _run_main(monkeypatch, capsys, "fit", "--config", "dvd.yaml", "--config", "presets/tiny.yaml",
                          "--data.root", str(tmp_path / "absent"), "--trainer.default_root_dir", str(tmp_path / "runs"))
    assert code == 2 and err[-1].startswith("error: data root not found")
    assert [p.name for p in (tmp_path / "runs" / "lightning_logs").iterdir()] == ["version_0"]  # version_1 removed
    assert (kept / "checkpoints" / "last.ckpt").read_bytes() == b"an earlier run's checkpoint"
    runs = list((tmp_path / "runs" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and read_run(runs[0])["exit_code"] == 1  # the W&B run ended as failed
