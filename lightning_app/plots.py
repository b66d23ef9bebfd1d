"""Plots written as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np


def plot_timeline(path: Path, times: np.ndarray, frame_preds: np.ndarray, names: Sequence[str],
                  threshold: Optional[float] = None, segments=None, title: str = "") -> Path:
    """Per-frame predictions over time in seconds: violence probability with its threshold and
    the detected segments shaded, or valence and arousal curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 3), dpi=100)
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
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
