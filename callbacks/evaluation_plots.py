"""Plots of a validation or test run, as PNG files in the run folder and images in W&B.

The task's ``plot_kind`` picks them. Classification (violence): confusion matrix (at the model's threshold), ROC and
precision-recall curves, over windows. Regression (valence-arousal): predicted vs true scatter over windows, and a
per-video timeline of predicted vs true values over frames (the first ``max_videos`` videos). Drawn at the end of
``validate`` and ``test`` runs, including the validation of the best checkpoint that closes a ``fit``; not after
every training epoch.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from torchmetrics.functional.classification import binary_confusion_matrix, binary_precision_recall_curve, binary_roc

from callbacks.run_summary import run_dir
from lightning_app.plots import pyplot, save_figure


def classification_plots(directory: Path, stage: str, preds: torch.Tensor, targets: torch.Tensor,
                         threshold: float) -> list[Path]:
    plt = pyplot()
    p, t = preds[:, 0].float(), targets[:, 0].int()
    paths = []
    matrix = binary_confusion_matrix(p, t, threshold=threshold).numpy()
    figure, axis = plt.subplots(figsize=(3.6, 3.2), dpi=100)
    axis.imshow(matrix, cmap="Blues")
    for (row, column), value in np.ndenumerate(matrix):
        axis.text(column, row, str(value), ha="center", va="center")
    axis.set_xticks([0, 1], ["calm", "violent"])
    axis.set_yticks([0, 1], ["calm", "violent"])
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(f"{stage} windows, threshold {threshold:g}", fontsize=9)
    paths.append(save_figure(figure, directory / f"{stage}_confusion_matrix.png"))
    if t.min() != t.max():  # curves need both classes
        fpr, tpr, _ = binary_roc(p, t)
        precision, recall, _ = binary_precision_recall_curve(p, t)
        for x, y, (x_label, y_label), name, title in (
                (fpr, tpr, ("false positive rate", "true positive rate"), "roc", "ROC"),
                (recall, precision, ("recall", "precision"), "precision_recall", "precision-recall")):
            figure, axis = plt.subplots(figsize=(3.6, 3.2), dpi=100)
            axis.plot(x.numpy(), y.numpy())
            if name == "roc":  # chance
                axis.plot([0, 1], [0, 1], color="grey", linestyle=":")
            axis.set_xlabel(x_label)
            axis.set_ylabel(y_label)
            axis.set_title(f"{stage} {title}", fontsize=9)
            paths.append(save_figure(figure, directory / f"{stage}_{name}.png"))
    return paths


def regression_plots(directory: Path, stage: str, gathered: dict, names: tuple[str, ...],
                     max_videos: int) -> list[Path]:
    plt = pyplot()
    _, preds, targets = gathered["windows"]
    figure, axes = plt.subplots(1, 2, figsize=(7, 3.4), dpi=100)
    for column, (axis, name) in enumerate(zip(axes, names)):
        axis.scatter(targets[:, column].numpy(), preds[:, column].numpy(), s=6, alpha=0.6)
        axis.plot([-1, 1], [-1, 1], color="grey", linestyle=":")
        axis.set_xlim(-1.05, 1.05)
        axis.set_ylim(-1.05, 1.05)
        axis.set_xlabel(f"true {name}")
        axis.set_ylabel(f"predicted {name}")
    figure.suptitle(f"{stage} windows", fontsize=9)
    paths = [save_figure(figure, directory / f"{stage}_va_scatter.png")]
    frame_preds, frame_targets = gathered["frames"]
    videos, frames = gathered["frame_ids"]
    chosen = torch.unique(videos)[:max_videos].tolist()
    if chosen:
        figure, axes = plt.subplots(len(chosen), 1, figsize=(9, 2.2 * len(chosen)), dpi=100, squeeze=False)
        for axis, video in zip(axes[:, 0], chosen):
            rows = videos == video
            order = torch.argsort(frames[rows])
            x = frames[rows][order].numpy()
            for column, (name, colour) in enumerate(zip(names, ("tab:blue", "tab:orange"))):
                axis.plot(x, frame_targets[rows][order][:, column].numpy(), color=colour, linewidth=1,
                          label=f"true {name}")
                axis.plot(x, frame_preds[rows][order][:, column].numpy(), color=colour, linestyle="--", linewidth=1,
                          label=f"predicted {name}")
            axis.set_ylim(-1.05, 1.05)
            axis.set_ylabel(f"video {video}")
        axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right")
        axes[-1, 0].set_xlabel("frame")
        paths.append(save_figure(figure, directory / f"{stage}_va_timelines.png"))
    return paths


class EvaluationPlots(pl.Callback):
    def __init__(self, max_videos: int = 4):
        self.max_videos = max_videos
        self.paths: list[Path] = []

    def _draw(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        directory = run_dir(trainer)  # every rank: log_dir is a collective under DDP
        gathered = getattr(pl_module, "last_predictions", {}).get(stage)
        if trainer.global_rank != 0 or not gathered or len(gathered["windows"][1]) == 0:
            return
        directory.mkdir(parents=True, exist_ok=True)
        task = pl_module.task
        if task.plot_kind == "classification":
            self.paths = classification_plots(directory, stage, gathered["windows"][1], gathered["windows"][2],
                                              task.threshold)
        else:
            self.paths = regression_plots(directory, stage, gathered, task.prediction_names, self.max_videos)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key=f"{stage}/plots", images=[str(p) for p in self.paths],
                                 caption=[p.stem for p in self.paths])

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "validate":
            self._draw(trainer, pl_module, "val")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._draw(trainer, pl_module, "test")
