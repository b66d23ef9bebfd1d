"""Lightning callbacks: run summaries, prediction writing, training time."""

from callbacks.prediction_writer import WindowPredictionWriter
from callbacks.run_summary import RunSummary
from callbacks.train_timer import TrainTimer

__all__ = ["RunSummary", "TrainTimer", "WindowPredictionWriter"]
