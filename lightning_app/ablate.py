"""``python -m lightning_app ablate --config dvd.yaml [--variants video_only,concat_fusion] [--cv [--folds 0,1]] [fit flags]``

Runs the full model and each chosen ablation (``configs/ablations/<variant>.yaml`` composed
after the given configs; default: all of them) as a ``fit``, or with ``--cv`` as a ``cv``
run, then writes one comparison table of the monitored metric per variant (``ablation.md``,
``ablation.csv``, ``ablation.json``; mean and sample std over folds with ``--cv``) and a bar
plot (``ablation.png``) to ``<default_root_dir>/ablations/version_N/``. A variant that fails
is reported and the others still run; the command then exits with status 1.

Running the same command again continues the newest unfinished ablations folder, as ``cv``
does: finished variants (and, with ``--cv``, finished folds) are kept, an interrupted fit resumes
from its ``last.ckpt``; a changed config is refused, and ``--new`` starts a new folder.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning_app.config_paths import CONFIGS_DIR
from lightning_app.errors import ConfigError, UserError
from lightning_app.files import atomic_write_text, read_json
from lightning_app.plots import pyplot, save_figure
from lightning_app.resumable_runs import RunFolder, fit_in_folder, is_rank_zero, take_new_flag
from lightning_app.terminal import print_table, write_table
from models.tasks import TASK_CLASSES

ABLATIONS_DIR = CONFIGS_DIR / "ablations"
BASELINE = "full"


def available_variants() -> list[str]:
    return sorted(p.stem for p in ABLATIONS_DIR.glob("*.yaml"))


def split_flags(args: Sequence[str]) -> tuple[list[str], bool, list[str]]:
    """Take ``--variants a,b`` and ``--cv`` out of ``args``."""
    variants, cv, rest, iterator = available_variants(), False, [], iter(args)
    for arg in iterator:
        if arg == "--cv":
            cv = True
        elif arg == "--variants" or arg.startswith("--variants="):
            value = arg.split("=", 1)[1] if "=" in arg else next(iterator, "")
            variants = available_variants() if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
        else:
            rest.append(arg)
    unknown = sorted(set(variants) - set(available_variants()))
    if unknown:
        raise ConfigError(f"--variants: unknown {', '.join(unknown)}; available: {', '.join(available_variants())}")
    return variants, cv, rest


VARIANT_RESULT = "variant_result.json"


def _run_variant(rest: list[str], variant: str, directory: Path, cv: bool, metric: str) -> dict[str, Any]:
    """One variant's result (``metric``, the task's headline score); a variant that finished before
    (in a continued folder) is kept."""
    kept = read_json(directory / variant / VARIANT_RESULT)
    if kept is not None:
        return kept
    extra = [] if variant == BASELINE else ["--config", str(ABLATIONS_DIR / f"{variant}.yaml")]
    if cv:
        from lightning_app.cv import run_cv

        table = run_cv([*rest, *extra, "--trainer.default_root_dir", str(directory / variant)])
        row = table["metrics"][metric]
        result = {"metric": metric, "value": row["mean"], "std": row["std"], "folds": row["folds"],
                  "failed_folds": table["failed"]}
    else:
        summary, _ = fit_in_folder([*rest, *extra], directory / variant)
        result = {"metric": metric, "value": summary.get(metric), "std": None, "best_epoch": summary.get("best_epoch")}
    if is_rank_zero() and not result.get("failed_folds"):
        atomic_write_text(directory / variant / VARIANT_RESULT, json.dumps(result, indent=2, default=str) + "\n")
    return result


def plot_bars(path: Path, results: dict[str, dict[str, Any]]) -> None:
    done = {k: v for k, v in results.items() if v.get("value") is not None}
    figure, axis = pyplot().subplots(figsize=(max(4, 1.1 * len(done)), 3.2), dpi=100)
    axis.bar(list(done), [v["value"] for v in done.values()],
             yerr=[v["std"] or 0.0 for v in done.values()], capsize=3, color=["#444"] + ["#7aa6c2"] * (len(done) - 1))
    metric = next((v["metric"] for v in done.values() if v.get("metric")), "")
    axis.set_ylabel(metric)
    axis.tick_params(axis="x", rotation=30, labelsize=8)
    save_figure(figure, path)


def unchanged_variants(fit_args: Sequence[str], variants: Sequence[str], config: dict[str, Any]) -> list[str]:
    """The variants whose config resolves to the full model's ``config`` (e.g. ``no_augmentation``
    where augmentation is off already)."""
    from lightning_app.cli import parse_config

    return [variant for variant in variants
            if parse_config(["fit", *fit_args, "--config", str(ABLATIONS_DIR / f"{variant}.yaml")]) == config]


def run_ablate(args: Sequence[str]) -> dict[str, Any]:
    from lightning_app.cli import parse_config
    from lightning_app.cv import split_folds_flag

    new, args = take_new_flag(args)
    variants, cv, rest = split_flags(args)
    folds, fit_args = split_folds_flag(rest)
    if folds is not None and not cv:
        raise ConfigError("--folds only applies with --cv")
    config = parse_config(["fit", *fit_args])
    metric = TASK_CLASSES[config["model"].get("task") or "violence"].table_metrics[0]
    everything = [BASELINE, *variants]
    folder = RunFolder.open(Path(config["trainer"].get("default_root_dir") or ".") / "ablations",
                            {"fit": config, "variants": everything, "cv": cv, "folds": folds}, new,
                            is_finished=lambda d: all((d / v / VARIANT_RESULT).is_file() for v in everything))
    directory = folder.directory
    if is_rank_zero():
        for variant in unchanged_variants(fit_args, variants, config):
            print(f"warning: ablation {variant} changes nothing in this config (configs/ablations/{variant}.yaml "
                  "sets what the full model already has): its row repeats the full model's", file=sys.stderr)
    passthrough = [*fit_args, *(["--folds", ",".join(map(str, folds))] if folds else [])]
    results: dict[str, dict[str, Any]] = {}
    for variant in everything:
        try:
            results[variant] = {"status": "ok", **_run_variant(passthrough, variant, directory, cv, metric)}
        except (KeyboardInterrupt, SystemExit):
            raise
        except UserError as error:
            results[variant] = {"status": "failed", "error": str(error), "value": None}
        except Exception as error:
            traceback.print_exc()
            results[variant] = {"status": "failed", "error": f"{type(error).__name__}: {error}", "value": None}
    if not is_rank_zero():  # every rank ran the variants; rank 0 reports them
        return {"directory": str(directory), "results": results}
    header = ["variant", "metric", "value", "std" if cv else "best epoch"]
    rows = []
    for variant, r in results.items():
        value = "failed" if r["status"] != "ok" else ("-" if r["value"] is None else f"{r['value']:.4f}")
        last = (f"{r['std']:.4f}" if r.get("std") is not None else "-") if cv else str(r.get("best_epoch", "-"))
        rows.append([variant, str(r.get("metric") or "-"), value, last])
    (directory / "ablation.json").write_text(json.dumps({"cv": cv, "results": results}, indent=2, default=str) + "\n")
    write_table(directory / "ablation", header, rows)
    plot_bars(directory / "ablation.png", results)
    print_table("ablations", header, rows, caption=str(directory))
    return {"directory": str(directory), "results": results}


def ablate_main(args: Sequence[str]) -> int:
    report = run_ablate(args)
    return 1 if any(r["status"] != "ok" for r in report["results"].values()) else 0
