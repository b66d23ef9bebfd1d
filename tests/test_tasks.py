"""The task objects decide everything that differs by task: output names, per-video summaries,
summary lines and plot kinds."""

import numpy as np
import pytest

from models.tasks import ValenceArousalTask, ViolenceTask, make_task


def test_violence_summary_finds_segments_and_the_highest_window():
    task = make_task("violence", 0.25, 2.0, 0.5, "mse")
    times = np.arange(10) / 5.0  # 5 fps
    frame_probs = np.array([0.1, 0.7, 0.8, 0.9, 0.9, 0.8, 0.2, 0.6, 0.1, 0.1])[:, None]
    windows = np.array([[0.3], [0.95], [0.4]])
    summary, segments = task.video_summary(windows, frame_probs, times, times + 0.2, threshold=0.5, min_segment=0.5)
    # frames 1..5 last 1.0 s (kept); frame 7 alone lasts 0.2 s (too short)
    assert [(s.start_frame, s.end_frame) for s in segments] == [(1, 6)]
    assert summary == {"violent_segments": 1, "violent_seconds": 1.0, "max_probability": 0.95}
    assert task.summary_line(summary) == "max p 0.95, 1 violent segment(s) (1.0 s)"
    assert (task.prediction_names, task.target_names, task.plot_kind) == (("probability",), ("label",), "classification")


def test_valence_arousal_summary_is_the_mean_of_each_dimension_and_no_segments():
    task = ValenceArousalTask("mse")
    frame_preds = np.array([[0.5, -0.2], [0.1, np.nan], [-0.3, 0.4]])
    summary, segments = task.video_summary(frame_preds[:2], frame_preds, np.zeros(3), np.ones(3), 0.5, 1.0)
    assert segments is None
    assert summary == {"mean_valence": round(0.3 / 3, 4), "mean_arousal": 0.1}
    assert task.summary_line(summary) == "mean_valence +0.10, mean_arousal +0.10"
    assert task.target_names == ("target_valence", "target_arousal") and task.plot_kind == "regression"
    assert not isinstance(task, ViolenceTask)


def _lin_ccc(x, y):
    """Lin's CCC with population moments, in numpy (the Aff-Wild2 challenge's definition)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cov = ((x - x.mean()) * (y - y.mean())).mean()
    return 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def test_frame_scores_are_the_challenges_numbers():
    import torch
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    targets = rng.uniform(-1, 1, (400, 2))
    preds = np.clip(targets * 0.6 + rng.normal(0, 0.3, (400, 2)) + 0.1, -1, 1)
    scores = ValenceArousalTask("mse").frame_scores(torch.tensor(preds, dtype=torch.float32),
                                                    torch.tensor(targets, dtype=torch.float32), "val/")
    valence, arousal = _lin_ccc(preds[:, 0], targets[:, 0]), _lin_ccc(preds[:, 1], targets[:, 1])
    assert float(scores["val/frame_ccc_valence"]) == pytest.approx(valence, abs=1e-5)
    assert float(scores["val/frame_ccc_arousal"]) == pytest.approx(arousal, abs=1e-5)
    assert float(scores["val/frame_ccc"]) == pytest.approx((valence + arousal) / 2, abs=1e-5)

    labels = (rng.random(500) < 0.3).astype(np.float32)
    probs = np.clip(labels * 0.4 + rng.random(500) * 0.6, 0, 1).astype(np.float32)
    violence = ViolenceTask(threshold=0.5).frame_scores(torch.tensor(probs)[:, None], torch.tensor(labels)[:, None], "val/")
    assert float(violence["val/frame_macro_f1"]) == pytest.approx(
        f1_score(labels.astype(int), (probs > 0.5).astype(int), average="macro"), abs=1e-6)
    best = max(f1_score(labels.astype(int), (probs > c).astype(int), average="macro") for c in np.unique(probs))
    assert float(violence["val/frame_macro_f1_best"]) == pytest.approx(best, abs=1e-6)
    assert float(violence["val/frame_macro_f1_best"]) >= float(violence["val/frame_macro_f1"])
    assert 0.0 <= float(violence["val/frame_best_threshold"]) <= 1.0
