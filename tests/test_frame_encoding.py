"""Each distinct frame through the per-frame encoders once, across windows and chunks, giving what encoding every
window on its own gives."""

import pytest
import torch

from datamodules.batch import stream_frames
from datamodules.synthetic_videos import render_clip, write_mp4
from datamodules.window_source import VideoWindowSource
from datamodules.windows import WindowSpec
from models.feature_extractor import FrozenFeatureExtractor
from models.frame_encoding import FrameMemo, first_positions

SPECS = dict(video_encoder={"name": "videoprism-tiny"}, clip_encoder={"name": "clip-tiny"}, captioner={"name": "blip-tiny"})


@pytest.fixture(scope="module")
def extractor():
    return FrozenFeatureExtractor(**SPECS)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    import numpy as np

    folder = tmp_path_factory.mktemp("frame_encoding")
    paths = []
    for index, frames in enumerate((200, 20)):  # a short tail after the last regular window, and a padded video
        path = folder / f"v{index}.mp4"
        write_mp4(path, render_clip(bool(index), frames, 32, np.random.default_rng(index)), fps=24)
        paths.append(path)
    return paths


def test_first_positions():
    distinct, where = first_positions(torch.tensor([[3, 1], [1, 7]]))
    assert distinct == [3, 1, 7] and where.tolist() == [[0, 1], [1, 2]]


@pytest.mark.parametrize("stride", [16, 32, 64])
def test_each_frame_encoded_once_gives_the_windows_own_features(extractor, videos, stride):
    spec = WindowSpec(64, stride, {"video": 16, "image": 16, "text": 4}, 32,
                      {"video": "whole", "image": "crop", "text": "whole"})
    largest = {"image": 0.0, "text": 0.0}
    for path in videos:
        memo = FrameMemo()
        encoded = {"image": 0, "text": 0}
        windows = 0
        for chunk in VideoWindowSource(path, spec, windows_per_chunk=3):
            streams = stream_frames(chunk)
            expected, expected_captions = extractor(streams["video"], streams["image"], streams["text"])
            keys = [(str(path), n) for n in chunk["frame_numbers"].tolist()]
            got, captions, counts = extractor.encode(chunk["frames"], chunk["stream_rows"], row_keys=keys, memo=memo)
            assert torch.equal(got["video"], expected["video"]) and captions == expected_captions
            for name in ("image", "text"):  # the towers run at other batch sizes: equal up to float rounding
                difference = (got[name] - expected[name]).abs().max().item()
                largest[name] = max(largest[name], difference)
                assert difference <= 1e-5, (name, difference)
            encoded["image"] += counts.image_frames_encoded
            encoded["text"] += counts.captions_encoded
            windows += len(chunk["starts"])
        distinct = {n for chunk in VideoWindowSource(path, spec, windows_per_chunk=3)
                    for n in chunk["frame_numbers"][chunk["stream_rows"]["image"].flatten()].tolist()}
        assert encoded["image"] == len(distinct)  # every distinct image frame of the video once, across chunks
        if path == videos[0] and stride == 32:  # 8 image frames and 2 captions a regular window after the first
            regular = windows - 1  # the last window is aligned to the video's end
            assert encoded["image"] <= 16 + 8 * (regular - 1) + 16 and encoded["text"] <= 4 + 2 * (regular - 1) + 4
    print(f"stride {stride}: largest difference {largest}")


def test_a_training_batch_of_overlapping_windows_encodes_their_shared_frames_once(extractor, videos):
    import numpy as np

    from datamodules.batch import collate_windows, row_keys
    from datamodules.labels import constant_targets
    from datamodules.window_dataset import WindowDataset, WindowItem

    spec = WindowSpec(64, 32, {"video": 16, "image": 16, "text": 4}, 32)
    windows = [WindowItem(7, "v", videos[0], start, start + 64, np.array([0.0], np.float32), spec.indices(start, 300))
               for start in (0, 32)]
    batch = collate_windows([WindowDataset(windows, {7: constant_targets(0, 300)}, spec)[i] for i in range(2)])
    keys = row_keys(batch)
    assert len(keys) == len(batch["frames"]) and len(set(keys)) < len(keys)  # the windows' shared frames
    assert all(video == 7 for video, _ in keys)
    streams = stream_frames(batch)
    expected, expected_captions = extractor(streams["video"], streams["image"], streams["text"])
    got, captions, counts = extractor.encode(batch["frames"], batch["stream_rows"], row_keys=keys)
    assert captions == expected_captions and torch.equal(got["video"], expected["video"])
    assert all((got[n] - expected[n]).abs().max() <= 1e-5 for n in ("image", "text"))
    assert (counts.image_frames_encoded, counts.captions_encoded) == (16 + 8, 4 + 2)  # not 32 and 8


def test_the_memo_keeps_the_latest_frames_of_each_video_it_has_not_finished():
    memo = FrameMemo(image={("a", 1): torch.zeros(2), ("b", 5): torch.ones(2)})
    memo.keep(FrameMemo(image={("a", 9): torch.zeros(2)}))  # a's next chunk: its older frames go, b's stay
    assert set(memo.image) == {("a", 9), ("b", 5)}
    memo.forget(lambda key: key[0] == "b")  # b's last chunk passed
    assert set(memo.image) == {("a", 9)}
    memo.keep(FrameMemo(image={7: torch.zeros(2)}))  # plain frame numbers (infer: one video) replace the plain ones
    assert set(memo.image) == {7, ("a", 9)} and memo.image[7].shape == (2,)
