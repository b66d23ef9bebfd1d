from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamodules.windows import (WindowSpec, near_duplicate_end, real_steps, stream_slots, uniform_indices, union_indices,
                                 window_indices, window_starts)


@pytest.mark.parametrize(
    "num_frames, window, stride, expected",
    [
        (64, 64, 32, [0]),             # exactly one window
        (10, 64, 32, [0]),             # shorter than a window: one (padded) window
        (128, 64, 32, [0, 32, 64]),    # regular windows reach the end exactly
        (100, 64, 32, [0, 32, 36]),    # the tail gets one extra window aligned to the end
        (65, 64, 32, [0, 1]),
        (200, 64, 64, [0, 64, 128, 136]),
        (130, 64, 16, [0, 16, 32, 48, 64, 66]),
    ],
)
def test_window_starts(num_frames, window, stride, expected):
    assert window_starts(num_frames, window, stride) == expected


def test_every_frame_is_covered():
    for num_frames in range(1, 300, 7):
        starts = window_starts(num_frames, 64, 32)
        covered = {f for s in starts for f in range(s, min(s + 64, num_frames))}
        assert covered == set(range(num_frames))


def test_uniform_indices_hand_worked():
    # centres of 16 segments of 4 frames, and of 4 segments of 16 frames
    assert uniform_indices(0, 64, 16, 1000) == [2 + 4 * i for i in range(16)]
    assert uniform_indices(0, 64, 4, 1000) == [8, 24, 40, 56]
    assert uniform_indices(32, 64, 4, 1000) == [40, 56, 72, 88]
    assert uniform_indices(0, 10, 3, 10) == [1, 5, 8]


def test_short_video_is_padded_with_its_last_frame():
    assert uniform_indices(0, 64, 4, 30) == [8, 24, 29, 29]
    assert uniform_indices(0, 64, 16, 1) == [0] * 16


def test_window_indices_and_union():
    per_stream = window_indices(0, 64, {"video": 16, "image": 16, "text": 4}, 40)
    assert per_stream["video"] == per_stream["image"]
    assert per_stream["text"] == [8, 24, 39, 39]
    union = union_indices(per_stream)
    assert union == sorted(set(union)) and max(union) == 39
    assert set(per_stream["text"]) <= set(union) and set(per_stream["video"]) <= set(union)


@pytest.mark.parametrize("args", [(0, 64, 32), (10, 0, 32), (10, 64, 0)])
def test_window_starts_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        window_starts(*args)


def test_uniform_indices_rejects_more_samples_than_frames():
    with pytest.raises(ValueError):
        uniform_indices(0, 4, 8, 100)


# -- properties, for any video length and window settings ------------------------------------------

lengths = st.integers(min_value=1, max_value=3000)
sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=300, deadline=None)
@given(num_frames=lengths, window=sizes, stride=sizes)
def test_windows_cover_every_frame_and_stay_inside_the_video(num_frames, window, stride):
    starts = window_starts(num_frames, window, stride)
    assert starts[0] == 0 and starts == sorted(set(starts))
    if num_frames <= window:
        assert starts == [0]
        return
    assert all(s + window <= num_frames for s in starts)  # no padding once the video is long enough
    assert starts[-1] + window == num_frames  # the last window reaches the end
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(g == stride for g in gaps[:-1]) and 0 < gaps[-1] <= stride  # regular, then one end-aligned
    covered = np.zeros(num_frames, bool)
    for s in starts:
        covered[s : s + window] = True
    assert covered.all() == all(g <= window for g in gaps)  # a frame is missed only where a gap exceeds the window
    assert covered.all() or stride > window  # which takes a stride longer than the window


@settings(max_examples=300, deadline=None)
@given(num_frames=lengths, window=sizes, data=st.data())
def test_uniform_indices_lie_in_their_segment_or_repeat_the_last_frame(num_frames, window, data):
    count = data.draw(st.integers(min_value=1, max_value=window), label="count")
    start = data.draw(st.sampled_from(window_starts(num_frames, window, max(1, window // 2))), label="start")
    indices = uniform_indices(start, window, count, num_frames)
    assert len(indices) == count and indices == sorted(indices)
    for i, index in enumerate(indices):
        ideal = start + ((2 * i + 1) * window) // (2 * count)
        low, high = start + Fraction(i * window, count), start + Fraction((i + 1) * window, count)
        assert low < ideal + 1 and ideal < high  # frame [ideal, ideal + 1) overlaps the i-th of count equal segments
        assert index == min(ideal, num_frames - 1)  # clamped only past the end (padding)
    if start + window <= num_frames:
        assert len(set(indices)) == count  # no repeats inside the video
        assert indices == [start + i for i in uniform_indices(0, window, count, window)]  # shift-invariant


@settings(max_examples=200, deadline=None)
@given(num_frames=lengths, window=st.integers(min_value=4, max_value=128), data=st.data())
def test_union_is_what_every_stream_needs_once(num_frames, window, data):
    counts = {name: data.draw(st.integers(min_value=1, max_value=window), label=name) for name in ("video", "image", "text")}
    for start in window_starts(num_frames, window, window // 2):
        per_stream = window_indices(start, window, counts, num_frames)
        union = union_indices(per_stream)
        assert union == sorted(set(union)) and set(union) == {i for v in per_stream.values() for i in v}
        assert all(0 <= i < num_frames for i in union)


@settings(max_examples=200, deadline=None)
@given(num_frames=lengths, window=st.integers(min_value=1, max_value=128), data=st.data())
def test_stream_slots_rebuild_every_windows_indices(num_frames, window, data):
    counts = {name: data.draw(st.integers(min_value=1, max_value=window), label=name) for name in ("video", "image", "text")}
    offsets, rows = stream_slots(window, counts)
    assert offsets == sorted(set(offsets)) and 0 <= offsets[0] and offsets[-1] < window
    assert sorted({slot for r in rows.values() for slot in r}) == list(range(len(offsets)))  # every slot is used
    for start in window_starts(num_frames, window, max(1, window // 2)):
        per_stream = window_indices(start, window, counts, num_frames)
        slot_frames = {}
        for name, stream_rows in rows.items():
            assert len(stream_rows) == counts[name]
            for slot, frame in zip(stream_rows, per_stream[name]):
                assert slot_frames.setdefault(slot, frame) == frame  # one slot, one frame, whichever stream reads it
                assert frame == min(start + offsets[slot], num_frames - 1)
        assert sorted(set(slot_frames.values())) == union_indices(per_stream)


def test_stream_slots_of_the_default_window():
    offsets, rows = stream_slots(64, {"video": 16, "image": 16, "text": 4})
    assert len(offsets) == 20 and rows["video"] == rows["image"] and len(set(rows["video"]) | set(rows["text"])) == 20


def test_bad_window_settings_are_config_errors():
    from lightning_app.errors import ConfigError

    calls = (lambda: window_starts(10, 0, 32), lambda: uniform_indices(0, 4, 8, 100), lambda: uniform_indices(0, 4, 0, 9))
    for call in calls:
        with pytest.raises(ConfigError, match="--data."):  # one `error: ...` line on the command line
            call()


def test_window_spec_is_one_immutable_picklable_value_that_cuts_as_the_functions_do():
    import dataclasses
    import pickle

    settings = {"window": 16, "stride": 8, "video_frames": 4, "image_frames": 4, "text_frames": 2, "frame_size": 32}
    spec = WindowSpec.from_settings(settings)
    assert spec == WindowSpec(16, 8, {"video": 4, "image": 4, "text": 2}, 32)
    assert spec.per_stream == {"video": 4, "image": 4, "text": 2}
    assert pickle.loads(pickle.dumps(spec)) == spec and hash(spec) == hash(pickle.loads(pickle.dumps(spec)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.window = 32
    assert spec.starts(37) == window_starts(37, 16, 8)
    assert spec.indices(8, 37) == window_indices(8, 16, spec.per_stream, 37)


def test_real_steps_count_a_short_videos_distinct_frames():
    spec = WindowSpec(window=64, stride=32, counts={"video": 16, "image": 16, "text": 4})
    indices = spec.indices(0, 20)  # a 20-frame video: frames 2, 6, 10, 14, 18, then its last frame 19 repeated
    assert indices["video"][:6] == [2, 6, 10, 14, 18, 19] and set(indices["video"][6:]) == {19}
    assert real_steps(indices["video"]) == 6 and real_steps(indices["text"]) == 2
    assert all(real_steps(i) == 16 for i in (spec.indices(0, 64)["video"], spec.indices(32, 100)["image"]))


@pytest.mark.parametrize("num_frames, duplicate", [(65, True), (64 + 15, True), (100, True), (64 + 16, False), (120, False), (128, False)])
def test_an_end_window_less_than_half_a_stride_on_is_a_near_duplicate(num_frames, duplicate):
    spec = WindowSpec(window=64, stride=32)
    starts = spec.starts(num_frames)
    assert [spec.near_duplicate(s) for s in starts[:-1]] == [False] * (len(starts) - 1)
    assert spec.near_duplicate(starts[-1]) is duplicate


def test_an_end_window_past_a_gap_is_no_duplicate():
    assert not near_duplicate_end(start=110, window=10, stride=100)  # stride > window: no overlap at all
