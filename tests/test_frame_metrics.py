import torch

from models.frame_metrics import FramePredictionAggregator


def test_frames_get_the_mean_of_the_windows_covering_them():
    aggregator = FramePredictionAggregator()
    # video 0 has 6 frames: windows of 4 at starts 0 and 2; frame 5 is unannotated.
    targets = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [0.0], [0.0]])
    mask = torch.tensor([True] * 5 + [False] * 3)
    starts = torch.tensor([0, 2])
    frame_target = torch.stack([targets[0:4], targets[2:6]])
    frame_mask = torch.stack([mask[0:4], mask[2:6]])
    aggregator.update(torch.tensor([0, 0]), starts, torch.tensor([[10.0], [20.0]]), frame_target, frame_mask)
    # video 1, one window, first two frames valid
    aggregator.update(torch.tensor([1]), torch.tensor([0]), torch.tensor([[7.0]]),
                      torch.tensor([[[1.0], [1.0], [0.0], [0.0]]]), torch.tensor([[True, True, False, False]]))
    preds, frame_targets = aggregator.compute()
    # video 0 frames 0..4, then video 1 frames 0..1
    assert preds[:, 0].tolist() == [10.0, 10.0, 15.0, 15.0, 20.0, 7.0, 7.0]
    assert frame_targets[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 1.0, 1.0]


def test_a_window_seen_twice_does_not_change_the_frame_means():
    aggregator = FramePredictionAggregator()
    args = (torch.tensor([0]), torch.tensor([0]), torch.tensor([[0.3, -0.2]]), torch.zeros(1, 4, 2), torch.ones(1, 4, dtype=torch.bool))
    aggregator.update(*args)
    aggregator.update(*args)  # e.g. a DistributedSampler padding its last batch
    preds, _ = aggregator.compute()
    assert preds.shape == (4, 2) and torch.allclose(preds, torch.tensor([[0.3, -0.2]]).expand(4, 2))
