import numpy as np
import torch

from datamodules import window_dataset
from datamodules.video_io import read_frames
from datamodules.window_dataset import WindowDataset, WindowItem, resize_short_side
from datamodules.windows import window_indices


def test_item_gathers_each_stream_from_one_decode(clips_root, monkeypatch):
    path = sorted((clips_root / "clips").glob("*.mp4"))[0]
    indices = window_indices(0, 64, {"video": 16, "image": 16, "text": 4}, 72)
    calls = []

    def counting_read(p, idx):
        calls.append(list(idx))
        return read_frames(p, idx)

    monkeypatch.setattr(window_dataset, "read_frames", counting_read)
    item = WindowDataset([WindowItem("v", path, 0, 64, 1, indices)], frame_size=None)[0]
    assert len(calls) == 1 and calls[0] == sorted(set(indices["video"]) | set(indices["text"]))
    assert item["video"].shape == (16, 32, 32, 3) and item["text"].shape == (4, 32, 32, 3)
    direct = torch.from_numpy(read_frames(path, indices["text"][:1]))
    assert torch.equal(item["text"][0], direct[0])
    assert item["label"].item() == 1 and (item["start"], item["end"]) == (0, 64)


def test_resize_short_side_keeps_uint8_and_crops_centre():
    frames = torch.zeros(1, 20, 40, 3, dtype=torch.uint8)
    frames[:, :, 5:35] = 200  # covers the centre square with a margin for the antialiasing kernel
    out = resize_short_side(frames, 10)
    assert out.shape == (1, 10, 10, 3) and out.dtype == torch.uint8
    assert np.allclose(out.numpy(), 200)
