import json

import numpy as np
import pytest
import torch

from datamodules.feature_cache import (CachedFeatureReader, FeatureCache, all_finite, cache_key, file_stem, key_content,
                                       read_index)
from lightning_app.errors import DataError

ENCODERS = {"video": {"name": "videoprism-tiny", "seed": 0}, "clip": {"name": "clip-tiny"}, "captioner": {"name": "blip-tiny"}}
COUNTS = {"video": 16, "image": 16, "text": 4}


def _key(**changes):
    args = {"encoders": ENCODERS, "window": 64, "stride": 32, "counts": COUNTS, "frame_size": 32, **changes}
    return cache_key(key_content(**args))


def test_key_changes_with_everything_that_changes_features(tmp_path):
    base = _key()
    assert base == _key()
    changed = [
        _key(encoders={**ENCODERS, "video": {"name": "videoprism-tiny", "seed": 1}}),
        _key(encoders={**ENCODERS, "captioner": {"name": "blip-tiny", "max_new_tokens": 4}}),
        _key(window=32), _key(stride=16), _key(frame_size=64), _key(counts={**COUNTS, "text": 2}),
    ]
    assert len({base, *changed}) == len(changed) + 1
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"1234")
    with_file = _key(encoders={**ENCODERS, "clip": {"name": "open_clip", "pretrained": str(weights)}})
    weights.write_bytes(b"12345")  # new weights at the same path
    assert _key(encoders={**ENCODERS, "clip": {"name": "open_clip", "pretrained": str(weights)}}) != with_file


def test_file_names_are_safe_and_distinct():
    assert file_stem("a/b c.mp4") != file_stem("a_b c.mp4")
    assert "/" not in file_stem("x/y/z.mp4") and file_stem("x/y/z.mp4").startswith("z.mp4-")


def _write(cache, tmp_path, name="v.mp4", windows=3):
    source = tmp_path / name
    source.write_bytes(b"video bytes")
    features = {"video": np.random.rand(windows, 16, 8), "image": np.random.rand(windows, 16, 6), "text": np.random.rand(windows, 4, 6)}
    cache.write(name, source, features, np.arange(windows) * 32, np.arange(windows) * 32 + 64, 200, [["a"] * 4] * windows)
    return source, features


def test_write_read_validate(tmp_path):
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, 64, 32, COUNTS, 32))
    cache.prepare()
    source, features = _write(cache, tmp_path)
    assert cache.is_valid("v.mp4", source)
    metadata, starts, ends = read_index(cache.path("v.mp4"))
    assert metadata["num_frames"] == "200" and starts.tolist() == [0, 32, 64] and ends.tolist() == [64, 96, 128]
    window = CachedFeatureReader().window(cache.path("v.mp4"), 1)
    assert np.allclose(window["video"].numpy(), features["video"][1].astype(np.float32))
    captions = json.loads(cache.captions_path("v.mp4").read_text())
    assert captions["windows"][2] == {"start": 64, "captions": ["a"] * 4}
    assert not list(cache.videos_dir.glob("*.tmp"))
    # the file is plain safetensors: an 8-byte header length, then JSON; nothing to unpickle
    raw = cache.path("v.mp4").read_bytes()
    assert raw[8:9] == b"{"


def test_changed_video_or_truncated_file_is_not_valid(tmp_path):
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, 64, 32, COUNTS, 32))
    cache.prepare()
    source, _ = _write(cache, tmp_path)
    source.write_bytes(b"another, longer video")
    assert not cache.is_valid("v.mp4", source)
    source, _ = _write(cache, tmp_path)
    path = cache.path("v.mp4")
    path.write_bytes(path.read_bytes()[:-100])
    assert not cache.is_valid("v.mp4", source)
    with pytest.raises(DataError, match="corrupt feature cache file .*re-run extract"):
        CachedFeatureReader().window(path, 0)
    with pytest.raises(DataError, match="corrupt feature cache file"):
        read_index(path)


def test_a_folder_with_another_key_is_refused(tmp_path):
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, 64, 32, COUNTS, 32))
    cache.prepare()
    (cache.directory / "key.json").write_text(json.dumps({"key": "somethingelse"}))
    with pytest.raises(DataError, match="holds key 'somethingelse'"):
        cache.prepare()


def test_completeness_marker(tmp_path):
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, 64, 32, COUNTS, 32))
    cache.prepare()
    assert not cache.is_complete(["a", "b"])
    cache.mark_complete(["a", "b"])
    assert cache.is_complete(["a"]) and cache.is_complete(["a", "b"]) and not cache.is_complete(["a", "c"])


def test_reader_keeps_few_files_open(tmp_path):
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, 64, 32, COUNTS, 32))
    cache.prepare()
    reader = CachedFeatureReader(max_open=2)
    for index in range(4):
        _write(cache, tmp_path, name=f"v{index}.mp4")
        reader.window(cache.path(f"v{index}.mp4"), 0)
    assert len(reader._open) == 2


def _rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_reading_the_cache_keeps_resident_memory_flat(tmp_path):
    """10 files of 100 windows of 768-d features (about 110 MB): reading every window once must
    not make the process hold them; the reader keeps few files mapped."""
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, 64, 32, COUNTS, 32))
    cache.prepare()
    rng = np.random.default_rng(0)
    for index in range(10):
        source = tmp_path / f"v{index}.mp4"
        source.write_bytes(b"x")
        features = {name: rng.standard_normal((100, steps, 768), dtype=np.float32) for name, steps in COUNTS.items()}
        cache.write(source.name, source, features, np.arange(100), np.arange(100) + 64, 200, [["a"] * 4] * 100)
        del features
    reader = CachedFeatureReader(max_open=2)
    before = _rss_mb()
    total = 0.0
    for index in range(10):
        for row in range(100):
            total += float(reader.window(cache.path(f"v{index}.mp4"), row)["video"][0, 0])
    growth = _rss_mb() - before
    assert growth < 40, f"resident memory grew by {growth:.0f} MB while reading 110 MB of features"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_finite_check_finds_nan_and_both_infinities_in_any_float_type(dtype):
    features = torch.randn(16, 768).to(dtype)
    assert all_finite(features)
    for bad in (float("nan"), float("inf"), float("-inf")):
        spoiled = features.clone()
        spoiled[7, 300] = bad
        assert not all_finite(spoiled), (dtype, bad)
