import numpy as np
import pytest

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
