import json

import numpy as np
import pytest
import torch

from datamodules.feature_cache import (CachedFeatureReader, FeatureCache, all_finite, cache_key, file_stem, key_content,
                                       read_index)
from datamodules.windows import WindowSpec
from lightning_app.errors import DataError

ENCODERS = {"video": {"name": "videoprism-tiny", "seed": 0}, "clip": {"name": "clip-tiny"}, "captioner": {"name": "blip-tiny"}}
COUNTS = {"video": 16, "image": 16, "text": 4}


WINDOW_SPEC = WindowSpec(64, 32, COUNTS, 32)


def _key(**changes):
    args = {"window": 64, "stride": 32, "counts": COUNTS, "frame_size": 32, **changes}
    return cache_key(key_content(args.pop("encoders", ENCODERS), WindowSpec(**args)))


def test_key_changes_with_everything_that_changes_features(tmp_path):
    base = _key()
    assert base == _key()
    changed = [
        _key(encoders={**ENCODERS, "video": {"name": "videoprism-tiny", "seed": 1}}),
        _key(encoders={**ENCODERS, "captioner": {"name": "blip-tiny", "max_new_tokens": 4}}),
        _key(window=32), _key(stride=16), _key(frame_size=64), _key(counts={**COUNTS, "text": 2}),
        _key(framing={"video": "whole", "image": "crop", "text": "whole"}), _key(framing={"image": "whole"}),
    ]
    assert len({base, *changed}) == len(changed) + 1
    # a cache of centre crops (all there was before framing) keeps the key it was written under
    assert "framing" not in key_content(ENCODERS, WINDOW_SPEC) and base == _key(framing={"video": "crop"})
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
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, WindowSpec(64, 32, COUNTS, 32)))
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
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, WindowSpec(64, 32, COUNTS, 32)))
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
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, WindowSpec(64, 32, COUNTS, 32)))
    cache.prepare()
    (cache.directory / "key.json").write_text(json.dumps({"key": "somethingelse"}))
    with pytest.raises(DataError, match="holds key 'somethingelse'"):
        cache.prepare()


def test_completeness_marker(tmp_path):
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, WindowSpec(64, 32, COUNTS, 32)))
    cache.prepare()
    assert not cache.is_complete(["a", "b"])
    cache.mark_complete(["a", "b"])
    assert cache.is_complete(["a"]) and cache.is_complete(["a", "b"]) and not cache.is_complete(["a", "c"])


def test_reader_keeps_few_files_open(tmp_path):
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, WindowSpec(64, 32, COUNTS, 32)))
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
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, WindowSpec(64, 32, COUNTS, 32)))
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


def test_reader_gives_what_safetensors_reads_for_every_window(tmp_path):
    from safetensors.numpy import load_file

    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, WindowSpec(64, 32, COUNTS, 32)))
    cache.prepare()
    _write(cache, tmp_path, windows=5)
    path = cache.path("v.mp4")
    reference = load_file(str(path))
    reader = CachedFeatureReader()
    for row in (4, 0, 2, 3, 1):
        window = reader.window(path, row)
        for name in ("video", "image", "text"):
            assert window[name].dtype == torch.float32 and window[name].is_contiguous()
            np.testing.assert_array_equal(window[name].numpy(), reference[name][row])
    window["video"][0, 0] = 7.0  # each window is its own memory: writable, and the next read is unchanged
    assert reader.window(path, 1)["video"][0, 0] == reference["video"][1][0, 0]
    with pytest.raises(DataError, match="has 5 windows, not a window 5"):
        reader.window(path, 5)


def _spoil_header(path, header=None, length=None):
    raw = path.read_bytes()
    old = int.from_bytes(raw[:8], "little")
    body = raw[8 + old :]
    text = json.dumps(header).encode() if header is not None else raw[8 : 8 + old]
    path.write_bytes((len(text) if length is None else length).to_bytes(8, "little") + text + body)


@pytest.mark.parametrize("spoil, problem", [
    (lambda p, h: p.write_bytes(b"\x01\x02"), "too short"),
    (lambda p, h: _spoil_header(p, length=2**40), "header length"),
    (lambda p, h: _spoil_header(p, length=3), "unreadable header"),
    (lambda p, h: _spoil_header(p, {k: v for k, v in h.items() if k != "image"}), "no image features"),
    (lambda p, h: _spoil_header(p, {**h, "text": {**h["text"], "dtype": "F16"}}), "text features are F16"),
    (lambda p, h: _spoil_header(p, {**h, "video": {**h["video"], "data_offsets": "x"}}), "malformed header entry"),
    (lambda p, h: _spoil_header(p, {**h, "video": {**h["video"], "shape": [9, 16, 8]}}), "video features need bytes"),
])
def test_a_spoiled_file_is_named_with_its_problem(tmp_path, spoil, problem):
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, WindowSpec(64, 32, COUNTS, 32)))
    cache.prepare()
    _write(cache, tmp_path)
    path = cache.path("v.mp4")
    raw = path.read_bytes()
    spoil(path, json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")]))
    with pytest.raises(DataError, match=f"corrupt feature cache file {path}: .*{problem}.*re-run extract"):
        CachedFeatureReader().window(path, 0)


def test_forked_workers_read_the_files_the_parent_has_open(tmp_path):
    """A worker inherits the parent's open files; positional reads keep either from moving
    the other's file position, and the worker opens its own."""
    from torch.utils.data import DataLoader

    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, WindowSpec(64, 32, COUNTS, 32)))
    cache.prepare()
    _write(cache, tmp_path, windows=6)
    path = cache.path("v.mp4")
    reader = CachedFeatureReader()
    expected = [reader.window(path, row)["image"] for row in range(6)]  # the parent holds the file open

    class Windows(torch.utils.data.Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, row):
            return reader.window(path, row)["image"]

    loader = DataLoader(Windows(), batch_size=1, num_workers=2, multiprocessing_context="fork")
    for row, batch in enumerate(loader):
        assert torch.equal(batch[0], expected[row])
    assert torch.equal(reader.window(path, 3)["image"], expected[3])


def test_a_file_rewritten_since_it_was_last_open_is_read_anew(tmp_path):
    """The reader remembers each file's layout after closing it, but only for that very file."""
    cache = FeatureCache(tmp_path / "cache", key_content(ENCODERS, WindowSpec(64, 32, COUNTS, 32)))
    cache.prepare()
    _write(cache, tmp_path, name="a.mp4", windows=2)
    _write(cache, tmp_path, name="b.mp4", windows=2)
    reader = CachedFeatureReader(max_open=1)
    assert reader.window(cache.path("a.mp4"), 1)["video"].shape == (16, 8)
    reader.window(cache.path("b.mp4"), 0)  # closes a
    _, features = _write(cache, tmp_path, name="a.mp4", windows=4)  # re-extracted: more windows
    window = reader.window(cache.path("a.mp4"), 3)
    np.testing.assert_allclose(window["video"].numpy(), features["video"][3], rtol=1e-6)
