import numpy as np
import pytest

from models.timeline import frames_from_windows, violent_segments


def test_frames_average_the_windows_covering_them():
    # 10 frames, windows [0, 6) and [4, 10): frames 4 and 5 are covered twice
    frames = frames_from_windows(np.array([0, 4]), np.array([6, 10]), np.array([[0.2], [0.8]]), 10)
    assert frames[:, 0].tolist() == pytest.approx([0.2] * 4 + [0.5] * 2 + [0.8] * 4)


def test_uncovered_frames_are_nan_and_columns_are_kept():
    frames = frames_from_windows(np.array([0]), np.array([3]), np.array([[0.1, -0.4]]), 5)
    assert frames.shape == (5, 2) and np.allclose(frames[:3], [0.1, -0.4]) and np.isnan(frames[3:]).all()


def test_segments_merge_runs_and_drop_short_ones():
    probability = np.array([0.1, 0.9, 0.95, 0.2, 0.7, 0.1, 0.6, 0.6, 0.6, 0.6])
    times = np.arange(10) * 0.5  # 2 fps
    ends = times + 0.5
    segments = violent_segments(probability, times, ends, threshold=0.5, min_duration=1.0)
    assert [(s.start_frame, s.end_frame) for s in segments] == [(1, 3), (6, 10)]  # (4, 5) lasts 0.5 s
    assert segments[0].start_time == 0.5 and segments[0].end_time == 1.5 and segments[0].peak == 0.95
    assert segments[1].end_time == 5.0 and segments[1].duration == 2.0
    assert violent_segments(probability, times, ends, threshold=0.99, min_duration=0.0) == []
    all_frames = violent_segments(np.ones(4), np.arange(4.0), np.arange(4.0) + 1, 0.5, 0.0)
    assert [(s.start_frame, s.end_frame) for s in all_frames] == [(0, 4)]
