"""Plots written as PNG files (matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend (imported on first use: it is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: Path) -> Path:
    """Lay the figure out, write it to ``path`` and close it."""
    figure.tight_layout()
    figure.savefig(path)
    pyplot().close(figure)
    return path


def plot_timeline(path: Path, times: np.ndarray, frame_preds: np.ndarray, names: Sequence[str],
                  threshold: Optional[float] = None, segments=None, title: str = "") -> Path:
    """Per-frame predictions over time in seconds: violence probability with its threshold and
    the detected segments shaded, or valence and arousal curves."""
    figure, axis = pyplot().subplots(figsize=(10, 3), dpi=100)
    for column, name in enumerate(names):
        axis.plot(times, frame_preds[:, column], label=name, linewidth=1.2)
    if threshold is not None:
        axis.axhline(threshold, color="crimson", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
        axis.set_ylim(-0.02, 1.02)
        for segment in segments or []:
            axis.axvspan(segment.start_time, segment.end_time, color="crimson", alpha=0.15)
    else:
        axis.set_ylim(-1.05, 1.05)
        axis.axhline(0, color="grey", linewidth=0.5)
    axis.set_xlabel("time (s)")
    axis.set_title(title, fontsize=10)
    axis.legend(loc="upper right", fontsize=8)
    return save_figure(figure, path)
