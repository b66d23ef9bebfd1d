"""The extract command and training from the feature cache, end to end on the tiny preset."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.numpy import load_file

from datamodules.batch import stream_frames
from datamodules.dvd import DVDDataModule
from datamodules.feature_cache import read_index
from datamodules.windows import window_indices, window_starts
from lightning_app.cli import cli_main
from lightning_app.errors import DataError
from lightning_app.extract import extract_main, run_extract
from models.feature_extractor import FrozenFeatureExtractor
from models.lit_module import encoder_specs
from tests.conftest import data_args

REPO = Path(__file__).resolve().parent.parent
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu"]
# as presets/tiny.yaml names them: the cache key is computed from the specs as written
TINY_SPECS = encoder_specs({"name": "videoprism-tiny", "seed": 0}, {"name": "clip-tiny", "seed": 0}, {"name": "blip-tiny", "seed": 0})


def _args(root, cache_dir, *extra):
    return ["--config", "demo.yaml", "--config", "presets/tiny.yaml", *data_args(root), "--data.cache_dir", str(cache_dir),
            "--trainer.default_root_dir", str(Path(cache_dir).parent / "runs"), *QUIET, *extra]


@pytest.fixture(scope="module")
def extracted(clips_root, tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("extract") / "cache"
    return run_extract(_args(clips_root, cache_dir)), cache_dir


def _files(summary) -> dict[str, dict]:
    return {p.name: load_file(str(p)) for p in sorted(Path(summary["cache"], "videos").glob("*.safetensors"))}


def test_every_window_of_every_video_is_written(extracted, clips_root):
    summary, _ = extracted
    assert summary["complete"] and summary["videos"] == summary["extracted"] == 8 and summary["failed"] == 0
    files = sorted(Path(summary["cache"], "videos").glob("*.safetensors"))
    assert len(files) == 8
    total = 0
    for path in files:
        metadata, starts, ends = read_index(path)
        num_frames = int(metadata["num_frames"])
        assert starts.tolist() == window_starts(num_frames, 64, 32)
        assert ends.tolist() == [min(s + 64, num_frames) for s in starts]
        tensors = load_file(str(path))
        assert tensors["video"].shape[:2] == (len(starts), 16) and tensors["text"].shape[:2] == (len(starts), 4)
        captions = json.loads(path.with_name(path.name.replace(".safetensors", ".captions.json")).read_text())
        assert len(captions["windows"]) == len(starts) and all(len(w["captions"]) == 4 for w in captions["windows"])
        total += len(starts)
    assert total == summary["windows"]
    # each window's frames were decoded once: no more frames than the union over windows
    assert summary["frames_decoded"] <= sum(int(read_index(p)[0]["num_frames"]) for p in files)
    # and each distinct frame went once through the per-frame encoders, not once per window reading it
    distinct = {"image": 0, "text": 0}
    for path in files:
        num_frames = int(read_index(path)[0]["num_frames"])
        per_window = [window_indices(s, 64, {"image": 16, "text": 4}, num_frames) for s in window_starts(num_frames, 64, 32)]
        for stream in distinct:
            distinct[stream] += len({i for window in per_window for i in window[stream]})
    assert (summary["image_frames_encoded"], summary["captions_encoded"]) == (distinct["image"], distinct["text"])
    assert summary["image_frames_encoded"] < 16 * summary["windows"]  # windows share image frames (text ones, here not)


def test_a_second_run_skips_what_is_done(extracted, clips_root):
    summary, cache_dir = extracted
    again = run_extract(_args(clips_root, cache_dir))
    assert again["skipped"] == 8 and again["extracted"] == 0 and again["complete"]


def test_cached_features_equal_features_computed_in_the_loop(extracted, clips_root):
    _, cache_dir = extracted
    common = dict(root=str(clips_root), frame_size=32, num_workers=0, batch_size=4, encoders=TINY_SPECS, cache_dir=str(cache_dir))
    cached = DVDDataModule(use_cache="always", **common)
    live = DVDDataModule(use_cache="never", **common)
    cached.setup("validate"), live.setup("validate")
    assert cached.uses_cache and not live.uses_cache
    extractor = FrozenFeatureExtractor(TINY_SPECS["video"], TINY_SPECS["clip"], TINY_SPECS["captioner"])
    for from_cache, frames in zip(cached.val_dataloader(), live.val_dataloader()):
        streams = stream_frames(frames)
        features, _ = extractor(streams["video"], streams["image"], streams["text"])
        assert from_cache["video_id"] == frames["video_id"] and torch.equal(from_cache["target"], frames["target"])
        for name in ("video", "image", "text"):
            assert torch.allclose(from_cache["features"][name], features[name], atol=1e-5), name


def test_fit_reads_the_cache_without_building_an_encoder(extracted, clips_root, tmp_path, monkeypatch):
    """With a complete cache the model takes its feature sizes from the cache files and never
    builds its encoders (with real ones: never loads gigabytes of weights only to drop them)."""
    _, cache_dir = extracted
    import models.lit_module

    def no_encoders(*args, **kwargs):
        raise AssertionError("an encoder was built although every feature comes from the cache")

    monkeypatch.setattr(models.lit_module, "FrozenFeatureExtractor", no_encoders)
    cli = cli_main(["fit", *_args(clips_root, cache_dir), "--trainer.max_epochs", "1"])
    assert cli.datamodule.uses_cache and cli.model.extractor is None
    assert cli.trainer.state.finished
    monkeypatch.undo()
    # its checkpoint does not carry the cache's sizes: it rebuilds its encoders, e.g. for infer
    checkpoint = cli.trainer.checkpoint_callback.best_model_path
    assert "feature_dims" not in torch.load(checkpoint, map_location="cpu", weights_only=True)["hyper_parameters"]
    restored = models.lit_module.VideoFusionModule.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True)
    assert isinstance(restored.extractor, FrozenFeatureExtractor)
    assert restored.extractor.dims == {"video": 32, "image": 32, "text": 32}


def test_use_cache_always_without_a_complete_cache_is_a_clear_error(clips_root, tmp_path):
    dm = DVDDataModule(str(clips_root), encoders=TINY_SPECS, cache_dir=str(tmp_path / "empty"), use_cache="always", frame_size=32)
    with pytest.raises(DataError, match="lacks current features for 8 video.*run `python -m lightning_app extract`"):
        dm.setup("fit")


def test_truncated_file_is_an_error_in_training_and_re_extracted(extracted, clips_root, tmp_path):
    summary, cache_dir = extracted
    copy = tmp_path / "cache"
    shutil.copytree(cache_dir, copy)
    victim = sorted(Path(copy, Path(summary["cache"]).name, "videos").glob("*.safetensors"))[0]
    victim.write_bytes(victim.read_bytes()[:-500])
    dm = DVDDataModule(str(clips_root), encoders=TINY_SPECS, cache_dir=str(copy), use_cache="always", frame_size=32, num_workers=0)
    with pytest.raises(DataError, match="lacks current features for 1 video"):
        dm.setup("fit")
    again = run_extract(_args(clips_root, copy))
    assert again["extracted"] == 1 and again["skipped"] == 7 and again["complete"]


def test_features_of_a_changed_video_are_not_used(extracted, clips_root, tmp_path):
    _, cache_dir = extracted
    root = tmp_path / "data"
    shutil.copytree(clips_root, root)
    victim = sorted((root / "clips").glob("*.mp4"))[0]
    victim.write_bytes(victim.read_bytes() + b"\0")  # another video under the same name
    auto = DVDDataModule(str(root), encoders=TINY_SPECS, cache_dir=str(cache_dir), frame_size=32, num_workers=0)
    auto.setup("validate")
    assert not auto.uses_cache  # falls back to decoding
    strict = DVDDataModule(str(root), encoders=TINY_SPECS, cache_dir=str(cache_dir), use_cache="always", frame_size=32)
    with pytest.raises(DataError, match=f"lacks current features for 1 video.*clips/{victim.name}"):
        strict.setup("validate")


def test_bad_video_is_recorded_and_the_rest_goes_on(clips_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(clips_root, root)
    victim = sorted((root / "clips").glob("*.mp4"))[0]
    victim.write_bytes(b"not a video at all")
    code = extract_main(_args(root, tmp_path / "cache"))
    assert code == 1
    errors = json.loads(next((tmp_path / "cache").glob("*/errors.json")).read_text())
    assert [e["video"] for e in errors] == [f"clips/{victim.name}"] and "cannot read video" in errors[0]["reason"]
    assert len(list((tmp_path / "cache").glob("*/videos/*.safetensors"))) == 7
    assert not list((tmp_path / "cache").glob("*/complete.json"))


@pytest.mark.slow
def test_killed_extraction_resumes_to_the_same_cache(extracted, tmp_path):
    summary, _ = extracted
    from datamodules.synthetic_videos import write_synthetic_dataset

    root = tmp_path / "many"
    write_synthetic_dataset(root, num_clips=24, size=32, fps=24, min_seconds=3, max_seconds=4, num_folds=2, seed=1)
    command = [sys.executable, "-m", "lightning_app", "extract", *_args(root, tmp_path / "cache")]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list((tmp_path / "cache").glob("*/videos/*.safetensors"))) < 2:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = list((tmp_path / "cache").glob("*/videos/*.safetensors"))
    assert 2 <= len(partial) < 24 and not list((tmp_path / "cache").glob("*/complete.json"))
    for path in partial:  # whatever was left in place is whole
        read_index(path)
    resumed = run_extract(_args(root, tmp_path / "cache"))
    assert resumed["complete"] and resumed["skipped"] == len(partial) and resumed["extracted"] == 24 - len(partial)
    assert not list((tmp_path / "cache").glob("*/videos/.*.tmp"))
    fresh = run_extract(_args(root, tmp_path / "fresh"))
    assert fresh["extracted"] == 24
    resumed_files, fresh_files = _files(resumed), _files(fresh)
    assert resumed_files.keys() == fresh_files.keys()
    for name, tensors in fresh_files.items():
        for key, value in tensors.items():
            assert (value == resumed_files[name][key]).all(), (name, key)


def _same_files(one: dict, other: dict) -> None:
    assert one.keys() == other.keys()
    for name in one:
        assert one[name].keys() == other[name].keys()
        for key in one[name]:
            assert (one[name][key] == other[name][key]).all(), (name, key)


def test_decoding_workers_write_the_same_cache(extracted, clips_root, tmp_path):
    summary, _ = extracted
    parallel = run_extract(_args(clips_root, tmp_path / "cache", "--data.num_workers", "2"))
    assert parallel["complete"] and parallel["extracted"] == 8 and parallel["windows"] == summary["windows"]
    _same_files(_files(summary), _files(parallel))


def test_batches_across_videos_write_the_same_cache(extracted, clips_root, tmp_path):
    """--data.batch_size 24: three chunks of 8 windows per encoder call, running on from the
    end of one clip (2 or 3 windows) into the next ones; every window's features as before."""
    summary, _ = extracted
    batched = run_extract(_args(clips_root, tmp_path / "cache", "--data.batch_size", "24", "--data.num_workers", "1"))
    assert batched["complete"] and batched["extracted"] == 8 and batched["windows"] == summary["windows"]
    one, other = _files(summary), _files(batched)
    assert one.keys() == other.keys()
    for name in one:
        assert one[name].keys() == other[name].keys()
        for key in one[name]:  # the same windows; features equal up to float rounding of a larger batch
            assert torch.allclose(torch.as_tensor(one[name][key]).double(), torch.as_tensor(other[name][key]).double(),
                                  atol=1e-5), (name, key)


def test_the_summary_says_how_long_the_encoders_waited_for_frames(clips_root, tmp_path, monkeypatch):
    from datamodules.window_source import VideoWindowSource

    decode = VideoWindowSource.__iter__

    def slow_decode(self):  # decoding that cannot keep up with the tiny encoders
        for chunk in decode(self):
            time.sleep(0.3)
            yield chunk

    monkeypatch.setattr(VideoWindowSource, "__iter__", slow_decode)
    summary = run_extract(_args(clips_root, tmp_path / "cache"))
    chunks = 8  # one per clip: 2 or 3 windows each, 8 to a chunk
    seconds = summary["seconds"]
    # the predict loop lasts at least the 8 serial decodes; Lightning fetches the first chunk
    # before its hooks start the clock, and the decoding thread may be a chunk ahead by then
    assert seconds["wait_for_frames"] >= 0.3 * (chunks - 2) - seconds["encode"] - seconds["write"] - 0.3, seconds


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])  # a rank's decoding workers take shares of that rank's videos only
def test_two_processes_share_the_videos(extracted, clips_root, tmp_path, workers):
    summary, _ = extracted
    split = run_extract(_args(clips_root, tmp_path / "cache", "--trainer.strategy", "ddp_spawn", "--trainer.devices", "2",
                              "--data.num_workers", str(workers)))
    shares = [set(videos) for videos in split["done_by_rank"].values()]
    assert len(shares) == 2 and all(shares) and not shares[0] & shares[1]
    assert len(shares[0] | shares[1]) == 8 and split["complete"] and split["windows"] == summary["windows"]
    _same_files(_files(summary), _files(split))


def _table_value(output: str, row: str) -> int:
    return int(re.search(rf"│ {row}\s+│\s+(\d+)", output).group(1))


@pytest.mark.slow
def test_two_jobs_on_one_cache_encode_each_video_once(extracted, clips_root, tmp_path):
    """Two independent extract commands started together on one cache share its videos: each is
    encoded by one of them, both end with the cache complete, equal to one job's."""
    summary, _ = extracted
    env = {**{k: v for k, v in os.environ.items() if "WANDB_SERVICE" not in k}, "COLUMNS": "200"}
    jobs = [subprocess.Popen([sys.executable, "-m", "lightning_app", "extract", *_args(clips_root, tmp_path / "cache")],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [job.communicate(timeout=300) for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], [err[-2000:] for _, err in outputs]
    extracted_by = [_table_value(out, "extracted") for out, _ in outputs]
    assert sum(extracted_by) == 8  # no video encoded twice, none left out
    for out, _ in outputs:
        assert sum(_table_value(out, row) for row in ("skipped", "extracted", "by_other_jobs")) == 8
    _same_files(_files(summary), _files({"cache": tmp_path / "cache" / Path(summary["cache"]).name}))
    assert not list((tmp_path / "cache").glob("*/claims/*.claim"))  # all released


def test_extract_writes_the_demo_clips_on_first_use(tmp_path, monkeypatch, capsys):
    """The demo's data appear in prepare_data: extract on a fresh demo folder writes them, then
    extracts (it used to stop at 'data root not found', first as a parser traceback)."""
    from lightning_app.__main__ import main

    # the demo's captions file is written with its clips, after the model (and its captioner) is built
    captions = f"{{name: captions-file, path: {tmp_path / 'demo' / 'captions.csv'}}}"
    monkeypatch.setattr(sys, "argv", ["lightning_app", "extract", "--config", "demo.yaml", "--data.root", str(tmp_path / "demo"),
                                      "--model.captioner", captions, "--data.num_clips", "10", "--data.clip_size", "32", "--data.num_workers", "0",
                                      "--data.cache_dir", str(tmp_path / "cache"), "--trainer.default_root_dir", str(tmp_path),
                                      "--trainer.enable_progress_bar", "false"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0, capsys.readouterr().err[-2000:]
    assert len(list((tmp_path / "cache").glob("*/videos/*.safetensors"))) == 10
