"""The task objects decide everything that differs by task: output names, per-video summaries,
summary lines and plot kinds."""

import numpy as np

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
