import pytest

from datamodules.windows import uniform_indices, union_indices, window_indices, window_starts


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
