"""What differs between violence classification (DVD) and valence-arousal regression (Aff-Wild2), decided here and
nowhere else: output size, loss, metrics, the metric that selects checkpoints, the names of predictions and targets
in output files, what a video's predictions are summed up as (violent segments, or mean values), and which plots
are drawn (``plot_kind``). Scores are torchmetrics' functional forms over all of an epoch's distinct window (or
frame) predictions (``models/epoch_predictions.py``).
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import binary_accuracy, binary_auroc, binary_f1_score
from torchmetrics.functional.regression import concordance_corrcoef, mean_squared_error

from models.ccc import ccc_loss, concordance_cc
from models.losses import binary_focal_loss
from models.macro_f1 import best_macro_f1, binary_macro_f1
from models.timeline import Segment, violent_segments

TaskName = Literal["violence", "valence_arousal"]
RegressionLoss = Literal["mse", "ccc", "mse+ccc"]


class ViolenceTask:
    """One logit per window; focal loss; F1 (positive = violent), accuracy, AUROC."""

    name = "violence"
    num_outputs = 1
    monitor, mode = "val/frame_macro_f1", "max"  # the DVD track's score
    prediction_names = ("probability",)
    target_names = ("label",)
    # what cv and ablate tables report, the headline first: the DVD track's score, and window F1
    table_metrics = ("val/frame_macro_f1", "val/f1")
    plot_kind = "classification"

    def __init__(self, focal_alpha: float | None = 0.5, focal_gamma: float = 2.0, threshold: float = 0.5):
        self.focal_alpha, self.focal_gamma, self.threshold = focal_alpha, focal_gamma, threshold

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return binary_focal_loss(outputs.squeeze(-1), targets.squeeze(-1), self.focal_alpha, self.focal_gamma)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(outputs)

    def window_scores(self, preds: torch.Tensor, targets: torch.Tensor, prefix: str) -> dict[str, torch.Tensor]:
        if len(preds) == 0:
            return {}
        p, t = preds[:, 0], targets[:, 0].int()
        return {f"{prefix}f1": binary_f1_score(p, t, threshold=self.threshold),
                f"{prefix}acc": binary_accuracy(p, t, threshold=self.threshold),
                f"{prefix}auroc": binary_auroc(p, t)}

    def frame_scores(self, preds: torch.Tensor, targets: torch.Tensor, prefix: str) -> dict[str, torch.Tensor]:
        """Over every annotated frame pooled: the violent class's F1 and the DVD track's score, the
        macro F1 of both classes, at the model's threshold and at the threshold that maximises it
        on these frames (``frame_best_threshold``; ``infer --threshold best`` reads it back)."""
        if len(preds) == 0:
            return {}
        p, t = preds[:, 0], targets[:, 0]
        best, threshold = best_macro_f1(p, t)
        return {f"{prefix}frame_f1": binary_f1_score(p, t.int(), threshold=self.threshold),
                f"{prefix}frame_macro_f1": binary_macro_f1(p, t, self.threshold),
                f"{prefix}frame_macro_f1_best": best, f"{prefix}frame_best_threshold": torch.tensor(threshold)}

    def video_summary(self, window_preds: np.ndarray, frame_preds: np.ndarray, start_times: np.ndarray,
                      end_times: np.ndarray, threshold: float,
                      min_segment: float) -> tuple[dict[str, Any], Optional[list[Segment]]]:
        """A video's predictions summed up: its violent segments (runs of frames at or above ``threshold`` lasting
        ``min_segment`` seconds), their count and length, and the highest window probability."""
        segments = violent_segments(frame_preds[:, 0], start_times, end_times, threshold, min_segment)
        return {"violent_segments": len(segments), "violent_seconds": round(sum(s.duration for s in segments), 3),
                "max_probability": round(float(np.nanmax(window_preds)), 4)}, segments

    @staticmethod
    def summary_line(summary: dict[str, Any]) -> str:
        return (f"max p {summary['max_probability']:.2f}, {summary['violent_segments']} violent segment(s)"
                f" ({summary['violent_seconds']:.1f} s)")


class ValenceArousalTask:
    """Two outputs in [-1, 1] (tanh); MSE, CCC or MSE + CCC loss; CCC per dimension, their mean, MSE."""

    name = "valence_arousal"
    num_outputs = 2
    monitor, mode = "val/frame_ccc", "max"  # the Aff-Wild2 challenge's score
    prediction_names = ("valence", "arousal")
    target_names = ("target_valence", "target_arousal")
    # what cv and ablate tables report, the headline first: the challenge's frame CCC, and window CCC
    table_metrics = ("val/frame_ccc", "val/ccc")
    plot_kind = "regression"

    def __init__(self, loss: RegressionLoss = "mse"):
        if loss not in ("mse", "ccc", "mse+ccc"):
            raise ValueError(f"unknown regression loss {loss!r}; choose mse, ccc or mse+ccc")
        self.loss_name = loss

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        preds = torch.tanh(outputs)
        total = preds.new_zeros(())
        if "mse" in self.loss_name:
            total = total + F.mse_loss(preds, targets)
        if "ccc" in self.loss_name:
            total = total + ccc_loss(preds, targets)
        return total

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(outputs)

    def window_scores(self, preds: torch.Tensor, targets: torch.Tensor, prefix: str) -> dict[str, torch.Tensor]:
        if len(preds) < 2:
            return {}
        ccc = concordance_corrcoef(preds, targets)
        return {f"{prefix}ccc_valence": ccc[0], f"{prefix}ccc_arousal": ccc[1], f"{prefix}ccc": ccc.mean(),
                f"{prefix}mse": mean_squared_error(preds, targets)}

    def frame_scores(self, preds: torch.Tensor, targets: torch.Tensor, prefix: str) -> dict[str, torch.Tensor]:
        """The Aff-Wild2 challenge's score: Lin's CCC of valence and of arousal, each over every
        annotated frame pooled (frames marked -5 are not among them), with population moments
        (``models/ccc.py``), and their mean, ``frame_ccc``."""
        if len(preds) < 2:
            return {}
        ccc = concordance_cc(preds.double(), targets.double()).float()
        return {f"{prefix}frame_ccc_valence": ccc[0], f"{prefix}frame_ccc_arousal": ccc[1],
                f"{prefix}frame_ccc": ccc.mean()}

    def video_summary(self, window_preds: np.ndarray, frame_preds: np.ndarray, start_times: np.ndarray,
                      end_times: np.ndarray, threshold: float,
                      min_segment: float) -> tuple[dict[str, Any], Optional[list[Segment]]]:
        """A video's predictions summed up: the mean over its frames of each; no segments."""
        return {f"mean_{name}": round(float(np.nanmean(frame_preds[:, column])), 4)
                for column, name in enumerate(self.prediction_names)}, None

    @staticmethod
    def summary_line(summary: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v:+.2f}" for k, v in summary.items() if k.startswith("mean_"))


Task = Union[ViolenceTask, ValenceArousalTask]
TASK_CLASSES = {"violence": ViolenceTask, "valence_arousal": ValenceArousalTask}


def logged_metrics(task: Task, stage: str = "val", autoencoder: bool = False) -> list[str]:
    """The metric names an epoch of ``stage`` logs for ``task`` (the keys of ``summary.json``), found by scoring a
    few made-up predictions as an epoch end does."""
    count = task.num_outputs
    preds = torch.linspace(0.1, 0.9, 8).unsqueeze(1).repeat(1, count)
    targets = (torch.arange(8) % 2).float().unsqueeze(1).repeat(1, count)
    names = {f"{stage}/loss", *task.window_scores(preds, targets, f"{stage}/")}
    if stage != "train":
        names |= set(task.frame_scores(preds, targets, f"{stage}/"))
    if autoencoder:
        names.add(f"{stage}/recon_loss")
    return sorted(names)


def make_task(name: TaskName, focal_alpha: float | None, focal_gamma: float, threshold: float,
              regression_loss: RegressionLoss) -> Task:
    if name == "violence":
        return ViolenceTask(focal_alpha, focal_gamma, threshold)
    if name == "valence_arousal":
        return ValenceArousalTask(regression_loss)
    raise ValueError(f"unknown task {name!r}; choose violence or valence_arousal")
