import torch

from callbacks.evaluation_plots import classification_plots, regression_plots


def test_classification_plots(tmp_path):
    preds = torch.rand(40, 1)
    targets = (torch.rand(40, 1) > 0.5).float()
    paths = classification_plots(tmp_path, "val", preds, targets, threshold=0.5)
    assert [p.name for p in paths] == ["val_confusion_matrix.png", "val_roc.png", "val_precision_recall.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    only_one_class = classification_plots(tmp_path, "test", preds, torch.zeros(40, 1), threshold=0.5)
    assert [p.name for p in only_one_class] == ["test_confusion_matrix.png"]  # no curves without both classes


def test_valence_arousal_plots(tmp_path):
    windows = (torch.randn(20, 2), torch.rand(20, 2) * 2 - 1, torch.rand(20, 2) * 2 - 1)
    frames = (torch.rand(30, 2) * 2 - 1, torch.rand(30, 2) * 2 - 1)
    ids = (torch.tensor([0] * 10 + [1] * 10 + [2] * 10), torch.arange(30) % 10)
    paths = regression_plots(tmp_path, "val", {"windows": windows, "frames": frames, "frame_ids": ids}, ("valence", "arousal"),
                             max_videos=2)
    assert [p.name for p in paths] == ["val_va_scatter.png", "val_va_timelines.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
