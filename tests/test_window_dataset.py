import numpy as np
import torch

from datamodules import window_dataset
from datamodules.video_io import read_frames
from datamodules.labels import constant_targets
from datamodules.window_dataset import WindowDataset, WindowItem
from datamodules.windows import window_indices


def test_item_gathers_each_stream_from_one_decode(clips_root, monkeypatch):
    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    indices = window_indices(0, 64, {"video": 16, "image": 16, "text": 4}, 72)
    calls = []

    def counting_read(p, idx, frame_size=None):
        calls.append(list(idx))
        return read_frames(p, idx, frame_size)

    monkeypatch.setattr(window_dataset, "read_frames", counting_read)
    window = WindowItem(0, "v", path, 0, 64, np.array([1.0], np.float32), indices)
    item = WindowDataset([window], {0: constant_targets(1, 72)}, window=64, frame_size=None)[0]
    assert len(calls) == 1 and calls[0] == sorted(set(indices["video"]) | set(indices["text"]))
    assert item["video"].shape == (16, 32, 32, 3) and item["text"].shape == (4, 32, 32, 3)
    direct = torch.from_numpy(read_frames(path, indices["text"][:1]))
    assert torch.equal(item["text"][0], direct[0])
    assert item["target"].tolist() == [1.0] and (item["start"], item["end"]) == (0, 64)
    assert item["frame_target"].shape == (64, 1) and bool(item["frame_mask"].all())


def test_frame_targets_past_the_end_are_masked(clips_root):
    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    indices = window_indices(40, 64, {"video": 16, "image": 16, "text": 4}, 72)
    window = WindowItem(0, "v", path, 40, 72, np.array([0.0], np.float32), indices)
    item = WindowDataset([window], {0: constant_targets(0, 72)}, window=64, frame_size=None)[0]
    assert item["frame_mask"].sum().item() == 32 and not item["frame_mask"][32:].any()
