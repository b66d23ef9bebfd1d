"""FeatureCacheWriter: chunks of several videos, interleaved, put together per video."""

import json
from pathlib import Path

import numpy as np

from callbacks.feature_writer import RANK_REPORT, FeatureCacheWriter
from lightning_app.errors import DataError


class _Cache:
    def __init__(self, directory: Path, refuse: str = ""):
        self.directory, self.refuse, self.written = directory, refuse, {}

    def write(self, video, source, features, starts, ends, num_frames, captions):
        if video == self.refuse:
            raise DataError(f"video {video}: the encoder gave NaN")
        self.written[video] = dict(source=source, features=features, starts=starts, ends=ends, num_frames=num_frames,
                                   captions=captions)


def _chunk(video: str, starts: list[int], last: bool, decode: float = 0.5) -> dict:
    n = len(starts)
    return {"video": video, "path": f"/videos/{video}.mp4", "last": last,
            "features": {"video": np.full((n, 3, 2), starts[0], np.float32), "image": np.zeros((n, 3, 2), np.float32),
                         "text": np.zeros((n, 1, 2), np.float32)},
            "starts": np.asarray(starts), "ends": np.asarray(starts) + 16, "captions": [[f"{video}@{s}"] for s in starts],
            "num_frames": 100, "seconds": {"decode": decode, "encode": 0.25}, "frames_decoded": 40}


def _feed(writer, predictions) -> None:
    for index, prediction in enumerate(predictions):
        writer.on_predict_batch_end(None, None, prediction, None, index)


def test_interleaved_chunks_make_one_file_per_video_in_order(tmp_path):
    cache = _Cache(tmp_path)
    writer = FeatureCacheWriter(cache, "job")
    _feed(writer, [_chunk("a", [0, 8], False), _chunk("b", [0], False), _chunk("a", [16], False, decode=0.9),
                   _chunk("b", [8], True, decode=0.7), _chunk("a", [24, 32], True, decode=1.5)])
    assert list(cache.written) == ["b", "a"]  # each as soon as its last chunk is in
    a = cache.written["a"]
    assert a["starts"].tolist() == [0, 8, 16, 24, 32] and a["ends"].tolist() == [16, 24, 32, 40, 48]
    assert a["features"]["video"][:, 0, 0].tolist() == [0, 0, 16, 24, 24]
    assert a["captions"] == [["a@0"], ["a@8"], ["a@16"], ["a@24"], ["a@32"]] and a["source"] == Path("/videos/a.mp4")
    report = writer.report
    assert report["done"] == ["b", "a"] and report["windows"] == 7 and report["frames_decoded"] == 80
    assert report["seconds"]["decode"] == 0.7 + 1.5  # each video's total, given with its last chunk
    assert report["seconds"]["encode"] == 5 * 0.25


def test_a_video_failing_part_way_is_dropped_and_the_others_written(tmp_path):
    cache = _Cache(tmp_path, refuse="c")
    writer = FeatureCacheWriter(cache, "job")
    _feed(writer, [_chunk("a", [0], False), _chunk("b", [0], False), {"video": "a", "error": "cannot decode video a"},
                   _chunk("a", [8], True), _chunk("b", [8], True), _chunk("c", [0], True)])
    assert list(cache.written) == ["b"]
    assert writer.report["errors"] == [{"video": "a", "reason": "cannot decode video a"},
                                       {"video": "c", "reason": "video c: the encoder gave NaN"}]
    assert writer.report["done"] == ["b"] and writer.report["windows"] == 2


def test_the_rank_report_is_left_in_the_cache_folder(tmp_path):
    writer = FeatureCacheWriter(_Cache(tmp_path), "job")
    _feed(writer, [_chunk("a", [0], True)])

    class _Trainer:
        global_rank = 3

    writer.on_predict_epoch_end(_Trainer(), None)
    report = json.loads((tmp_path / RANK_REPORT.format(job="job", rank=3)).read_text())
    assert report["done"] == ["a"] and report["windows"] == 1


def test_time_waiting_for_frames_is_from_each_chunk_done_to_the_next_arriving(tmp_path, monkeypatch):
    clock = iter([10.0, 11.0, 11.5, 11.7, 12.0])  # epoch start, batch start, batch end, batch start, batch end
    monkeypatch.setattr("callbacks.feature_writer.time.perf_counter", lambda: next(clock))
    writer = FeatureCacheWriter(_Cache(tmp_path), "job")
    writer.on_predict_epoch_start(None, None)
    writer.on_predict_batch_start(None, None, None, 0)
    writer.on_predict_batch_end(None, None, {"video": "a", "error": "cannot read video a"}, None, 0)
    writer.on_predict_batch_start(None, None, None, 1)
    writer.on_predict_batch_end(None, None, {"video": "b", "error": "cannot read video b"}, None, 1)
    assert abs(writer.report["seconds"]["wait_for_frames"] - (1.0 + 0.2)) < 1e-9
