import pytest
import torch

from models.epoch_predictions import EpochPredictions


def _update(store, video, start, pred, frame_values, mask):
    store.update(torch.tensor([video]), torch.tensor([start]), torch.tensor([pred]) * 10, torch.tensor([pred]),
                 torch.tensor([[0.0] * len(pred)]),
                 torch.tensor([frame_values]), torch.tensor([mask]))


def test_frames_get_the_mean_of_the_windows_covering_them():
    store = EpochPredictions()
    # video 0 has 6 frames, windows of 4 at starts 0 and 2; frame 5 is unannotated
    _update(store, 0, 0, [10.0], [[0.0], [1.0], [2.0], [3.0]], [True] * 4)
    _update(store, 0, 2, [20.0], [[2.0], [3.0], [4.0], [5.0]], [True, True, True, False])
    _update(store, 1, 0, [7.0], [[1.0], [1.0], [0.0], [0.0]], [True, True, False, False])
    preds, targets = store.compute()["frames"]
    assert preds[:, 0].tolist() == [10.0, 10.0, 15.0, 15.0, 20.0, 7.0, 7.0]
    assert targets[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 1.0, 1.0]
    outputs, window_preds, _ = store.compute()["windows"]
    assert sorted(outputs[:, 0].tolist()) == [70.0, 100.0, 200.0]
    assert sorted(window_preds[:, 0].tolist()) == [7.0, 10.0, 20.0]


def test_a_window_seen_twice_counts_once():
    store = EpochPredictions()
    _update(store, 0, 0, [0.2], [[1.0]] * 4, [True] * 4)
    _update(store, 0, 4, [0.8], [[1.0]] * 4, [True] * 4)
    _update(store, 0, 0, [0.2], [[1.0]] * 4, [True] * 4)  # a DistributedSampler's padding repeats it
    _, preds, _ = store.compute()["windows"]
    assert sorted(preds[:, 0].tolist()) == pytest.approx([0.2, 0.8])
    frame_preds, _ = store.compute()["frames"]
    assert frame_preds[:, 0].tolist() == pytest.approx([0.2] * 4 + [0.8] * 4)


def test_a_near_duplicate_end_window_is_left_out_of_window_scores_but_not_of_frame_scores():
    store = EpochPredictions()
    frames = [[0.0], [1.0], [2.0], [3.0]]
    store.update(torch.tensor([0, 0]), torch.tensor([0, 1]), torch.tensor([[1.0], [3.0]]), torch.tensor([[1.0], [3.0]]),
                 torch.zeros(2, 1), torch.tensor([frames, frames]), torch.ones(2, 4, dtype=torch.bool),
                 torch.tensor([True, False]))
    outputs, preds, targets = store.unsqueezed(store.compute(), 1)["windows"]  # one window: shapes restored
    assert outputs[:, 0].tolist() == [1.0] and preds[:, 0].tolist() == [1.0] and len(targets) == 1
    frame_preds, _ = store.compute()["frames"]
    assert frame_preds[:, 0].tolist() == [1.0, 2.0, 2.0, 2.0, 3.0]  # frames 1-3 averaged over both windows
