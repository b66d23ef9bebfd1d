"""FeatureExtractionModule: chunks of one or more videos through the encoders in one call."""

import pytest
import torch
from torch import nn

from datamodules.batch import stream_frames
from lightning_app.errors import DataError
from models.extraction_module import FeatureExtractionModule
from models.frame_encoding import EncodedCounts

COUNTS = {"video": 3, "image": 2, "text": 1}


class WindowMeans(nn.Module):
    """Stands in for the frozen extractor: each stream frame's mean grey level; captions name
    the video and the text frame. Raises DataError for the videos in ``missing`` (as a captions
    file does) and records each call's windows."""

    def __init__(self, missing=()):
        super().__init__()
        self.missing, self.calls, self.keys = set(missing), [], []

    def forward(self, video, image, text, captions_for):
        paths, text_frames = captions_for
        self.calls.append(len(paths))
        if self.missing & set(paths):
            raise DataError(f"no captions for {sorted(self.missing & set(paths))[0]}")
        features = {name: frames.float().mean(dim=(2, 3, 4)).unsqueeze(-1)
                    for name, frames in (("video", video), ("image", image), ("text", text))}
        captions = [[f"{path}@{n}" for n in numbers] for path, numbers in zip(paths, text_frames.tolist())]
        return features, captions

    def encode(self, frames, stream_rows, captions_for, row_keys=None, memo=None):
        """As ``FrozenFeatureExtractor.encode``: the rows' frames, and the distinct rows of each per-frame stream."""
        streams = stream_frames({"frames": frames, "stream_rows": stream_rows})
        features, captions = self(streams["video"], streams["image"], streams["text"], captions_for)
        self.keys.append(list(row_keys))
        return features, captions, EncodedCounts(len(stream_rows["image"].unique()), len(stream_rows["text"].unique()))


def _chunk(name: str, first_frame: int, windows: int, last: bool, size: int = 4) -> dict:
    frames = 2 + windows  # distinct frames; window w reads frames w, w + 1, w + 2
    values = torch.arange(first_frame, first_frame + frames, dtype=torch.uint8)
    rows = torch.stack([torch.arange(w, w + 3) for w in range(windows)])
    return {"name": name, "path": f"{name}.mp4", "last": last, "num_frames": 100,
            "frames": values[:, None, None, None].expand(frames, size, size, 3).clone(),
            "stream_rows": {"video": rows, "image": rows[:, :2], "text": rows[:, 2:]},
            "starts": torch.arange(windows), "ends": torch.arange(windows) + 3, "text_frames": rows[:, 2:] + first_frame,
            "frame_numbers": torch.arange(first_frame, first_frame + frames),
            "decode_seconds": 0.5, "frames_decoded": frames}


def _expected(chunk: dict) -> dict:
    first = int(chunk["frames"][0, 0, 0, 0])
    return {name: (first + chunk["stream_rows"][name]).float().unsqueeze(-1).numpy() for name in COUNTS}


def test_chunks_of_several_videos_go_through_in_one_call_and_come_back_apart():
    chunks = [_chunk("a", 10, 2, last=True), {"name": "broken", "error": "cannot read video broken"},
              _chunk("b", 50, 3, last=False), _chunk("b", 53, 1, last=True)]
    extractor = WindowMeans()
    results = FeatureExtractionModule(extractor).predict_step(chunks, 0)
    assert extractor.calls == [6]  # 2 + 3 + 1 windows at once
    assert [r["video"] for r in results] == ["a", "broken", "b", "b"]
    assert results[1] == {"video": "broken", "error": "cannot read video broken"}
    for chunk, result in zip(chunks[:1] + chunks[2:], results[:1] + results[2:]):
        expected = _expected(chunk)
        for name in COUNTS:
            assert (result["features"][name] == expected[name]).all(), (chunk["name"], name)
        assert result["captions"] == [[f"{chunk['path']}@{n}" for n in row] for row in chunk["text_frames"].tolist()]
        assert result["last"] == chunk["last"] and (result["starts"] == chunk["starts"]).all()
    # each row named by its video and frame, so the next call can reuse what it shares; the call's counts once
    assert extractor.keys[0][:4] == [("a.mp4", 10), ("a.mp4", 11), ("a.mp4", 12), ("a.mp4", 13)]
    assert [r["encoded"] for r in results if "encoded" in r] == [
        {"image_frames_encoded": 3 + 4 + 2, "captions_encoded": 6}, *[{"image_frames_encoded": 0, "captions_encoded": 0}] * 2]
    shares = [r["seconds"]["encode"] for r in results if "seconds" in r]
    assert shares[0] > 0 and shares == pytest.approx([shares[0], 1.5 * shares[0], 0.5 * shares[0]])  # by windows


def test_a_single_chunk_is_still_taken():
    chunk = _chunk("a", 0, 2, last=True)
    (result,) = FeatureExtractionModule(WindowMeans()).predict_step(chunk, 0)
    assert (result["features"]["video"] == _expected(chunk)["video"]).all()


def test_one_video_s_error_fails_that_video_alone():
    chunks = [_chunk("a", 10, 2, last=True), _chunk("b", 50, 3, last=True), _chunk("c", 90, 1, last=True)]
    extractor = WindowMeans(missing={"b.mp4"})
    results = FeatureExtractionModule(extractor).predict_step(chunks, 0)
    assert extractor.calls == [6, 2, 3, 1]  # together first, then each chunk alone
    assert results[1] == {"video": "b", "error": "no captions for b.mp4"}
    assert (results[0]["features"]["image"] == _expected(chunks[0])["image"]).all()
    assert (results[2]["features"]["text"] == _expected(chunks[2])["text"]).all()


def test_frames_of_different_sizes_are_encoded_in_separate_calls():
    chunks = [_chunk("a", 10, 2, last=True, size=4), _chunk("b", 50, 1, last=True, size=6), _chunk("c", 90, 2, last=True)]
    extractor = WindowMeans()
    results = FeatureExtractionModule(extractor).predict_step(chunks, 0)
    assert sorted(extractor.calls) == [1, 4]
    for chunk, result in zip(chunks, results):
        assert result["video"] == chunk["name"]
        assert (result["features"]["video"] == _expected(chunk)["video"]).all()
