"""A sweep's report, written into its folder from the study: the table of trials (``trials.md``, ``trials.csv``),
``best.yaml`` (the best trial's resolved config, to train it again with ``fit --config best.yaml``) and Optuna's
plots as PNG (optimisation history, parameter importances, parallel coordinates; a plot the study cannot draw yet,
such as importances before two trials finished, is left out with a note)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Optional

import yaml

from lightning_app.files import atomic_write_text
from lightning_app.plots import pyplot, save_figure
from lightning_app.terminal import print_table, write_table

PLOTS = {"optimization_history": "plot_optimization_history", "param_importances": "plot_param_importances",
         "parallel_coordinate": "plot_parallel_coordinate"}
BEST_FILE = "best.yaml"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def trial_rows(study: Any, spec: Any) -> tuple[list[str], list[list[str]]]:
    keys = list(spec.space)
    header = ["trial", "state", spec.metric, *keys, "epochs", "run folder"]
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        rows.append([str(trial.number), trial.state.name.lower(), _cell(trial.value),
                     *[_cell(trial.params.get(key)) for key in keys], _cell(attrs.get("epochs")),
                     attrs.get("run_folder", "-")])
    return header, rows


def run_config(folder: Path) -> Optional[Path]:
    """The newest fit's ``config.yaml`` under a trial's folder (fold 0's with ``--cv``; in the folder itself when
    the trial ran without a logger)."""
    found = sorted(folder.glob("**/config.yaml"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def write_best(study: Any, directory: Path) -> Optional[dict[str, Any]]:
    """``best.yaml``: the best trial's resolved config, writing into ``<sweep folder>/best`` when trained again."""
    try:
        best = study.best_trial
    except ValueError:  # no trial finished yet
        return None
    config_file = run_config(Path(best.user_attrs.get("run_folder", "")))
    if config_file is None:
        return None
    config = yaml.safe_load(config_file.read_text())
    config.setdefault("trainer", {})["default_root_dir"] = str(directory / "best")
    config.pop("ckpt_path", None)
    atomic_write_text(directory / BEST_FILE, yaml.safe_dump(config, sort_keys=False))
    return {"trial": best.number, "value": best.value, "params": best.params, "config": str(directory / BEST_FILE)}


def write_plots(study: Any, directory: Path) -> tuple[list[str], dict[str, str]]:
    """Optuna's matplotlib plots as PNG; those it cannot draw yet are named with why."""
    import optuna.visualization.matplotlib as optuna_plots

    pyplot()  # the project's non-interactive backend
    written, skipped = [], {}
    for name, function in PLOTS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                axes = getattr(optuna_plots, function)(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            skipped[name] = str(error).splitlines()[0] if str(error) else type(error).__name__
            continue
        figure = getattr(axes, "figure", None) or axes.flat[0].figure
        save_figure(figure, directory / f"{name}.png")
        written.append(f"{name}.png")
    return written, skipped


def write_report(study: Any, spec: Any, directory: Path, show: bool = True) -> dict[str, Any]:
    header, rows = trial_rows(study, spec)
    write_table(directory / "trials", header, rows, note=f"metric: {spec.metric} ({spec.goal}); study {spec.name}")
    best = write_best(study, directory)
    plots, skipped = write_plots(study, directory) if rows else ([], {})
    trials = [{"number": t.number, "state": t.state.name.lower(), "value": t.value, "params": t.params,
               **{key: t.user_attrs.get(key) for key in ("epochs", "best_epoch", "pruned_at_epoch", "run_folder", "error")}}
              for t in study.get_trials(deepcopy=False)]
    report = {"study": spec.name, "metric": spec.metric, "goal": spec.goal, "directory": str(directory),
              "trials": trials, "best": best, "plots": plots, "plots_skipped": skipped,
              # trials that raised (a trial whose process died is queued again, not counted here)
              "failed": sum(t["state"] == "fail" and t["error"] is not None for t in trials)}
    atomic_write_text(directory / "sweep_summary.json", json.dumps(report, indent=2, default=str) + "\n")
    if show:
        caption = f"best: trial {best['trial']}, {spec.metric} {best['value']:.4g}; {directory / BEST_FILE}" if best else None
        print_table(f"sweep {spec.name}", header, rows, caption=caption, left_columns=2)
    return report
