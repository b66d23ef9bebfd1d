import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamodules.labels import (
    FrameTargets,
    constant_targets,
    fit_to_frames,
    parse_segments,
    segment_targets,
    va_window_target,
    violence_window_target,
)


def test_segments():
    assert parse_segments("12-40; 100-130") == [(12, 40), (100, 130)]
    assert parse_segments("") == []
    with pytest.raises(ValueError):
        parse_segments("12")
    targets = segment_targets([(2, 4)], 6)
    assert targets.values[:, 0].tolist() == [0, 0, 1, 1, 0, 0]
    with pytest.raises(ValueError, match="past the video"):
        segment_targets([(10, 12)], 6)


def test_violence_rule_counts_valid_frames_only():
    values = np.array([[1], [1], [0], [0], [1]], np.float32)
    valid = np.array([True, True, True, True, False])
    assert violence_window_target(values, valid, 0.5) == 1.0  # 2 of 4 valid frames
    assert violence_window_target(values, valid, 0.6) == 0.0
    assert violence_window_target(values, np.zeros(5, bool), 0.5) is None


def test_va_rule_is_the_mean_of_valid_frames():
    values = np.array([[0.5, -0.5], [0.1, 0.3], [0.9, 0.9]], np.float32)
    valid = np.array([True, True, False])
    assert np.allclose(va_window_target(values, valid), [0.3, -0.1])
    assert va_window_target(values, np.zeros(3, bool)) is None


def test_window_slice_pads_past_the_end():
    targets = constant_targets(1, 5)
    values, valid = targets.window(3, 4)
    assert values[:, 0].tolist() == [1, 1, 0, 0] and valid.tolist() == [True, True, False, False]


def test_fit_to_frames():
    targets = FrameTargets(np.ones((10, 2), np.float32), np.ones(10, bool))
    assert len(fit_to_frames(targets, 8, tolerance=2)) == 8
    longer = fit_to_frames(targets, 12, tolerance=2)
    assert len(longer) == 12 and not longer.valid[10:].any()
    with pytest.raises(ValueError, match="10 label rows for a video of 13 frames"):
        fit_to_frames(targets, 13, tolerance=2)


def test_violence_rule_at_the_exact_threshold():
    # k of n violent frames with violent_fraction k / n: violent, whatever float rounding does
    for n in range(1, 65):
        for k in range(n + 1):
            values = np.array([1] * k + [0] * (n - k), np.float32)[:, None]
            assert violence_window_target(values, np.ones(n, bool), k / n) == 1.0, (k, n)


# -- properties ------------------------------------------------------------------------------------

flags = st.lists(st.booleans(), min_size=1, max_size=200)


@settings(max_examples=300, deadline=None)
@given(violent=flags, data=st.data(), fraction=st.floats(0, 1), other=st.floats(0, 1))
def test_violence_rule_is_the_share_of_valid_violent_frames(violent, data, fraction, other):
    valid = np.array(data.draw(st.lists(st.booleans(), min_size=len(violent), max_size=len(violent)), label="valid"))
    values = np.array(violent, np.float32)[:, None]
    target = violence_window_target(values, valid, fraction)
    if not valid.any():
        assert target is None
        return
    share = sum(v for v, ok in zip(violent, valid) if ok) / int(valid.sum())  # exact count, one division
    assert target == (1.0 if share >= fraction else 0.0)
    # monotone in the threshold, and blind to invalid frames
    low, high = sorted((fraction, other))
    assert violence_window_target(values, valid, low) >= violence_window_target(values, valid, high)
    flipped = np.where(valid[:, None], values, 1 - values)
    assert violence_window_target(flipped, valid, fraction) == target


va_values = st.floats(-1, 1, allow_nan=False, width=32)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.tuples(va_values, va_values, st.booleans()), min_size=1, max_size=200))
def test_va_rule_is_the_mean_of_valid_frames_and_stays_in_range(rows):
    values = np.array([(v, a) for v, a, _ in rows], np.float32)
    valid = np.array([ok for _, _, ok in rows])
    target = va_window_target(values, valid)
    if not valid.any():
        assert target is None
        return
    assert target.shape == (2,) and target.dtype == np.float32
    assert np.allclose(target, values[valid].mean(axis=0), atol=1e-6)
    assert (values[valid].min(axis=0) - 1e-6 <= target).all() and (target <= values[valid].max(axis=0) + 1e-6).all()
    assert np.array_equal(va_window_target(np.where(valid[:, None], values, 9.0), valid), target)


@settings(max_examples=300, deadline=None)
@given(num_frames=st.integers(1, 300), start=st.integers(0, 400), length=st.integers(1, 128))
def test_window_slice_holds_the_frames_it_covers_and_pads_the_rest_invalid(num_frames, start, length):
    targets = FrameTargets(np.arange(num_frames, dtype=np.float32)[:, None], np.ones(num_frames, bool))
    start = min(start, num_frames - 1)
    values, valid = targets.window(start, length)
    inside = min(start + length, num_frames) - start
    assert values.shape == (length, 1) and valid.sum() == inside and valid[:inside].all()
    assert values[:inside, 0].tolist() == list(range(start, start + inside)) and not values[inside:].any()


@settings(max_examples=300, deadline=None)
@given(have=st.integers(0, 200), num_frames=st.integers(1, 200), tolerance=st.integers(0, 10))
def test_fit_to_frames_matches_the_video_or_refuses(have, num_frames, tolerance):
    targets = FrameTargets(np.ones((have, 2), np.float32), np.ones(have, bool))
    if abs(have - num_frames) > tolerance:
        with pytest.raises(ValueError, match=f"{have} label rows for a video of {num_frames} frames"):
            fit_to_frames(targets, num_frames, tolerance)
        return
    fitted = fit_to_frames(targets, num_frames, tolerance)
    kept = min(have, num_frames)
    assert len(fitted) == num_frames and fitted.valid[:kept].all() and not fitted.valid[kept:].any()


segment_lists = st.lists(st.tuples(st.integers(0, 300), st.integers(1, 60)), max_size=6)


@settings(max_examples=300, deadline=None)
@given(spans=segment_lists, num_frames=st.integers(1, 300), tolerance=st.integers(0, 5))
def test_segments_round_trip_and_out_of_range_ones_are_refused(spans, num_frames, tolerance):
    segments = [(start, start + length) for start, length in spans]
    text = ";".join(f"{a}-{b}" for a, b in segments)
    assert parse_segments(text) == segments
    if any(a >= num_frames or b > num_frames + tolerance for a, b in segments):
        with pytest.raises(ValueError, match="past the video"):
            segment_targets(segments, num_frames, tolerance)
        return
    labels = segment_targets(segments, num_frames, tolerance).values[:, 0]
    expected = np.zeros(num_frames)
    for a, b in segments:
        expected[a:b] = 1
    assert labels.tolist() == expected.tolist()


@given(text=st.text(max_size=20))
def test_parse_segments_accepts_only_frame_ranges(text):
    try:
        segments = parse_segments(text)
    except ValueError as error:
        assert "is not START-END" in str(error)
        return
    assert all(isinstance(a, int) and 0 <= a and isinstance(b, int) for a, b in segments)
