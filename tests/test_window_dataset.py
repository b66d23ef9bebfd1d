import numpy as np
import torch

from datamodules import window_dataset
from datamodules.batch import collate_windows, stream_frames
from datamodules.labels import constant_targets
from datamodules.video_io import read_frames
from datamodules.window_dataset import WindowDataset, WindowItem
from datamodules.windows import WindowSpec, window_indices


def test_item_gathers_each_stream_from_one_decode(clips_root, monkeypatch):
    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    indices = window_indices(0, 64, {"video": 16, "image": 16, "text": 4}, 72)
    calls = []

    def counting_read(p, idx, frame_size=None):
        calls.append(list(idx))
        return read_frames(p, idx, frame_size)

    monkeypatch.setattr(window_dataset, "read_frames", counting_read)
    window = WindowItem(0, "v", path, 0, 64, np.array([1.0], np.float32), indices)
    item = WindowDataset([window], {0: constant_targets(1, 72)}, WindowSpec(64, 32, {"video": 16, "image": 16, "text": 4}, None))[0]
    assert len(calls) == 1 and calls[0] == sorted(set(indices["video"]) | set(indices["text"]))
    assert item["frames"].shape == (20, 32, 32, 3)  # each distinct frame once
    streams = {name: frames[0] for name, frames in stream_frames(item).items()}  # an item is a batch of one
    assert streams["video"].shape == (16, 32, 32, 3) and streams["text"].shape == (4, 32, 32, 3)
    for name in ("video", "image", "text"):  # each stream's frames, in its order
        assert torch.equal(streams[name], torch.from_numpy(read_frames(path, indices[name])))
    assert item["target"].tolist() == [1.0] and (item["start"], item["end"]) == (0, 64)
    assert item["frame_target"].shape == (64, 1) and bool(item["frame_mask"].all())


def test_frame_targets_past_the_end_are_masked(clips_root):
    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    indices = window_indices(40, 64, {"video": 16, "image": 16, "text": 4}, 72)
    window = WindowItem(0, "v", path, 40, 72, np.array([0.0], np.float32), indices)
    item = WindowDataset([window], {0: constant_targets(0, 72)}, WindowSpec(64, 32, {"video": 16, "image": 16, "text": 4}, None))[0]
    assert item["frame_mask"].sum().item() == 32 and not item["frame_mask"][32:].any()
    # frames 42, 46, ..., 70 and the last, 71, are real; the text stream's 48, 64 and 71
    assert {name: int(n) for name, n in item["stream_lengths"].items()} == {"video": 9, "image": 9, "text": 3}
    assert item["window_scored"] is False  # 8 frames after the window at 32: a near-duplicate end window
    assert collate_windows([item, item])["stream_lengths"]["text"].tolist() == [3, 3]


# the windows of _windows_of: 8 + 8 + 2 frames sampled over 32, every 16, resized to 16
SMALL = WindowSpec(32, 16, {"video": 8, "image": 8, "text": 2}, 16)


def _windows_of(path, frames=72, window=32, stride=16):
    from datamodules.windows import window_starts

    return [WindowItem(0, "v", path, s, min(s + window, frames), np.array([0.0], np.float32),
                       window_indices(s, window, SMALL.per_stream, frames)) for s in window_starts(frames, window, stride)]


def test_open_readers_give_the_same_items_in_any_order(clips_root):
    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    windows = _windows_of(path)
    targets = {0: constant_targets(0, 72)}
    fresh = WindowDataset(windows, targets, SMALL)
    reusing = WindowDataset(windows, targets, SMALL, open_readers=2)
    for index in [0, 1, 2, 3, 1, 0, 3, 2]:  # in order, then backwards
        a, b = fresh[index], reusing[index]
        assert torch.equal(a["frames"], b["frames"])


def test_windows_in_time_order_decode_each_frame_once(clips_root):
    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    windows = _windows_of(path)
    dataset = WindowDataset(windows, {0: constant_targets(0, 72)}, SMALL, open_readers=1)
    for index in range(len(windows)):
        dataset[index]
    needed = set().union(*(set(i for idx in w.indices.values() for i in idx) for w in windows))
    reader = dataset._readers[path]
    assert reader.decoded == len(needed)  # overlapping windows shared their frames
    assert sum(len(set(i for idx in w.indices.values() for i in idx)) for w in windows) > len(needed)
    import pickle

    assert pickle.loads(pickle.dumps(dataset))._readers == {}  # workers open their own


def test_forked_workers_do_not_touch_the_parents_open_readers(clips_root):
    # the parent reads first (its readers stay open), then DataLoader workers are forked
    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    windows = _windows_of(path)
    dataset = WindowDataset(windows, {0: constant_targets(0, 72)}, SMALL, open_readers=2)
    expected = [dataset[i]["frames"] for i in range(len(windows))]
    ctx = torch.multiprocessing.get_context("fork")
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2, multiprocessing_context=ctx)
    got = [item["frames"] for item in loader]
    assert all(torch.equal(a, b) for a, b in zip(expected, got)) and len(got) == len(expected)
    assert path in dataset._readers  # the parent's reader is still its own


def test_gather_streams_picks_whole_frames_as_list_indexing_would():
    frames = torch.randint(0, 256, (5, 4, 6, 3), dtype=torch.uint8)
    decoded = [3, 7, 8, 20, 21]
    per_stream = {"video": [3, 8, 21, 21], "text": [7]}
    gathered = window_dataset.gather_streams(frames, decoded, per_stream)
    assert torch.equal(gathered["video"], frames[[0, 2, 4, 4]])
    assert torch.equal(gathered["text"], frames[[1]])


def test_a_batch_of_shared_frames_gives_each_items_streams(clips_root):
    # stream_frames over a collated batch == over each item; and the items' streams are
    # exactly the frames their indices name, also past a short video's end (clamped, repeated)
    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    windows = _windows_of(path) + _windows_of(path, frames=20)  # and a window running 12 frames past a short end
    dataset = WindowDataset(windows, {0: constant_targets(0, 72)}, SMALL)
    batch = collate_windows([dataset[i] for i in range(len(windows))])
    assert batch["frames"].shape[0] == len(windows) * dataset.slots
    batched = stream_frames(batch)
    for index, window in enumerate(windows):
        own = stream_frames(dataset[index])
        for name, indices in window.indices.items():
            assert torch.equal(batched[name][index], own[name][0])
            assert torch.equal(own[name][0], torch.from_numpy(read_frames(path, sorted(set(indices)), 16))[
                [sorted(set(indices)).index(i) for i in indices]])
    assert windows[-1].indices["video"][-3:] == [19, 19, 19]  # clamped


def test_items_sampled_over_another_window_are_refused(clips_root):
    import pytest

    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    windows = _windows_of(path)  # sampled over 32 frames
    with pytest.raises(ValueError, match="not sampled over a 64-frame window"):
        WindowDataset(windows, {0: constant_targets(0, 72)}, WindowSpec(64, 32, SMALL.counts, 16))[0]


def test_close_readers_closes_what_this_process_keeps_open(clips_root):
    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    windows = _windows_of(path)
    dataset = WindowDataset(windows, {0: constant_targets(0, 72)}, SMALL, open_readers=2)
    first = dataset[0]["frames"]
    reader = dataset._readers[path]
    dataset.close_readers()
    assert not dataset._readers and reader._forward is None and not reader._frames
    assert torch.equal(dataset[0]["frames"], first)  # opened again when needed


def test_each_stream_gets_the_framing_its_encoder_reads(tmp_path):
    from datamodules.resize import centre_square, frame_views
    from datamodules.window_source import VideoWindowSource
    from datamodules.windows import window_starts
    from tests.test_infer import write_video

    frames = np.zeros((40, 48, 80, 3), np.uint8)  # 5:3, a bright band at the left edge
    frames[:, :, :12] = 255
    path = write_video(tmp_path / "wide.mp4", frames, "libx264")
    spec = WindowSpec(16, 8, {"video": 4, "image": 4, "text": 2}, 24, {"video": "whole", "image": "crop", "text": "whole"})
    windows = [WindowItem(0, "v", path, s, min(s + 16, 40), np.array([0.0], np.float32), spec.indices(s, 40))
               for s in window_starts(40, 16, 8)]
    dataset = WindowDataset(windows, {0: constant_targets(0, 40)}, spec)
    chunks = list(VideoWindowSource(path, spec, windows_per_chunk=2))
    from_source = [{name: rows[i] for name, rows in stream_frames(chunk).items()} for chunk in chunks
                   for i in range(len(chunk["starts"]))]
    assert len(from_source) == len(windows)
    for window, source_streams in zip(windows, from_source):
        streams = {name: value[0] for name, value in stream_frames(dataset[windows.index(window)]).items()}
        short = {name: torch.from_numpy(read_frames(path, window.indices[name], 24)) for name in streams}
        assert short["video"].shape[1:3] == (24, 40)  # decoded frames keep their aspect ratio
        assert torch.equal(streams["image"], centre_square(short["image"], 24))
        assert streams["video"].shape == (4, 24, 24, 3) and int(streams["video"][:, :, :3].min()) > 200  # whole
        assert int(streams["image"][:, :, :3].max()) < 30  # the crop loses the band
        for name in ("video", "text"):
            assert torch.equal(streams[name], frame_views(short[name], ("whole",), 24)), name
        for name in streams:  # a file read as windows gives the same frames as the dataset
            assert torch.equal(streams[name], source_streams[name]), name
