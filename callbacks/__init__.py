"""Lightning callbacks: run summaries and prediction writing."""

from callbacks.prediction_writer import WindowPredictionWriter
from callbacks.run_summary import RunSummary

__all__ = ["RunSummary", "WindowPredictionWriter"]
