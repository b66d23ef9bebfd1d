"""``python -m lightning_app infer --ckpt_path best.ckpt --video a.mp4 b.mkv folder/ --out results/``

Runs a trained model on any videos (mp4, mkv, avi, webm, mov, m4v; any size, frame rate and
length, shorter than a window included) and writes, per video, into ``results/<name>/``:

* ``windows.csv`` / ``windows.json``: one row per window, start/end frame and time in
  seconds, and the prediction (``probability``, or ``valence`` and ``arousal``);
* ``frames.csv`` / ``frames.json``: one row per frame, the mean of the windows covering it;
* ``timeline.png``: the per-frame predictions over time;
* ``segments.json`` (violence): runs of frames at or above the threshold lasting at least
  ``--min_segment`` seconds, as start/end times.

Times come from the container's per-frame timestamps, so variable-frame-rate files match
real playback time. A one-line summary is printed per video, ``summary.json`` and
``errors.json`` are written to ``--out``, and the command exits with status 1 if any video failed.
A video that yields fewer frames than its header declares (a truncated file), or whose
stream stops decoding part way, is predicted on what can be read, with a ``warning:`` line
and a ``warnings`` entry in its summary.

The checkpoint alone is enough: the model, its encoders (by name) and the window settings it
was trained with are restored from it; ``--config`` is only needed for checkpoints that lack
the window settings. ``--stream`` reads each source incrementally with PyAV (a file being
written, or a camera or network stream FFmpeg can open), predicts every window as soon as it
is complete, prints its latency, and holds one window of frames in memory; a device needs its
FFmpeg input format (``--stream --format v4l2 --video /dev/video0``). ``--stream --follow
SECONDS`` reads a file that is still being written as it grows (Matroska, MPEG-TS or fragmented
MP4), ending after SECONDS without growth.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import torch

from callbacks.run_summary import SUMMARY_NAME
from datamodules.video_io import VIDEO_EXTENSIONS
from datamodules.windows import WindowSpec
from lightning_app.checkpoint_file import load_checkpoint_file
from lightning_app.errors import ConfigError, UserError
from lightning_app.files import read_json
from lightning_app.inference import VideoPredictor, write_outputs
from lightning_app.resume import run_folder
from models.lit_module import VideoFusionModule, encoder_specs
from models.tasks import Task


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lightning_app infer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint written by fit")
    parser.add_argument("--video", nargs="+", required=True, help="video files, folders (searched recursively) or, with --stream, URLs")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--config", action="append", default=[], help="config(s), only for the window settings of old checkpoints")
    parser.add_argument("--stream", action="store_true", help="read incrementally, predict each window as soon as it is complete")
    parser.add_argument("--format", default=None, help="with --stream: FFmpeg input format of a device, e.g. v4l2 for /dev/video0")
    parser.add_argument("--follow", type=float, default=None, metavar="SECONDS",
                        help="with --stream: the file is still being written; read on as it grows and stop after "
                             "SECONDS without growth (Matroska, MPEG-TS or fragmented MP4)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threshold", default=None,
                        help="violence threshold: a number, or best (the validation threshold that maximised frame "
                             "macro F1 for this checkpoint, from its run's summary.json); default: the model's")
    parser.add_argument("--min_segment", type=float, default=1.0, help="shortest violent segment reported, in seconds")
    parser.add_argument("--windows_per_batch", type=int, default=8)
    return parser


def window_spec(checkpoint: dict[str, Any], configs: Sequence[str]) -> WindowSpec:
    data = checkpoint.get("datamodule_hyper_parameters") or {}
    if not data and configs:
        from lightning_app.cli import parse_config

        args = ["fit"] + [a for config in configs for a in ("--config", config)]
        data = parse_config(args)["data"]["init_args"]
    if not data:
        raise ConfigError("the checkpoint holds no window settings (written before they were saved); pass the "
                          "config it was trained with: --config dvd.yaml")
    model = checkpoint.get("hyper_parameters") or {}
    encoders = encoder_specs(model.get("video_encoder"), model.get("clip_encoder"), model.get("captioner"))
    return WindowSpec.from_settings(data, encoders)  # the framing of the checkpoint's encoders


def load_model(ckpt_path: str, configs: Sequence[str] = ()) -> tuple[VideoFusionModule, WindowSpec, dict[str, Any]]:
    """A checkpoint's model, the window spec it was trained with and its datamodule settings."""
    path = Path(ckpt_path)
    checkpoint = load_checkpoint_file(path)
    spec = window_spec(checkpoint, configs)
    model = VideoFusionModule.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    return model, spec, dict(checkpoint.get("datamodule_hyper_parameters") or {})


def load_predictor(ckpt_path: str, configs: Sequence[str], device: str, windows_per_batch: int) -> VideoPredictor:
    model, spec, _ = load_model(ckpt_path, configs)
    return VideoPredictor(model, spec, device, windows_per_batch)


def resolve_threshold(value: Optional[str], ckpt_path: Path, default: float) -> float:
    """``--threshold``: a number, ``best`` (``val/frame_best_threshold`` of the validation of this
    checkpoint that closed its fit, in the run folder's summary.json), or None (the model's)."""
    if value is None:
        return float(default)
    if value != "best":
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"--threshold must be a number or best, got {value!r}") from None
    folder = run_folder(ckpt_path.resolve())
    summary = read_json(folder / SUMMARY_NAME) if folder is not None else None
    best = (summary or {}).get("val/frame_best_threshold")
    if best is None or Path(str(summary.get("ckpt_path"))).resolve() != ckpt_path.resolve():
        raise ConfigError(f"--threshold best: no validation of {ckpt_path} with a best threshold in its run folder's "
                          f"{SUMMARY_NAME} (it is written for the best checkpoint of a fit); pass a number instead")
    return float(best)


def expand_sources(items: Sequence[str], stream: bool) -> tuple[list[str], list[dict[str, str]]]:
    """Video files (folders searched recursively, sorted) and an error per path that cannot be used."""
    sources, errors = [], []
    for item in items:
        path = Path(item)
        if stream and ("://" in item or (path.exists() and not path.is_dir() and not path.is_file())):
            sources.append(item)  # a URL, or a device such as /dev/video0
        elif path.is_dir():
            try:
                found = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
            except OSError as error:
                errors.append({"video": item, "reason": f"cannot list folder: {error}"})
                continue
            if not found:
                errors.append({"video": item, "reason": f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in this folder"})
            sources += [str(p) for p in found]
        elif path.is_file():
            sources.append(item)
        else:
            errors.append({"video": item, "reason": "no such file or folder"})
    return sources, errors


def output_names(sources: Sequence[str]) -> list[str]:
    names, used = [], set()
    for source in sources:
        stem = Path(source.rstrip("/")).stem or "stream"
        name, suffix = stem, 2
        while name in used:
            name, suffix = f"{stem}_{suffix}", suffix + 1
        used.add(name)
        names.append(name)
    return names


def _summary_line(summary: dict[str, Any], task: Task) -> str:
    head = f"{summary['video']}: {summary['frames']} frames, {summary['duration']:.1f} s, {summary['windows']} windows"
    return f"{head}, {task.summary_line(summary)}"


def run_infer(args: argparse.Namespace) -> dict[str, Any]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    predictor = load_predictor(args.ckpt_path, args.config, args.device, args.windows_per_batch)
    threshold = resolve_threshold(args.threshold, Path(args.ckpt_path), predictor.model.hparams.get("threshold", 0.5))
    sources, errors = expand_sources(args.video, args.stream)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summaries = []
    for error in errors:
        print(f"failed: {error['video']}: {error['reason']}", file=sys.stderr)

    def print_window(start, end, t0, t1, pred, latency):
        values = ", ".join(f"{n} {v:.3f}" for n, v in zip(predictor.prediction_names, pred))
        print(f"  window {start}-{end} ({t0:.2f}-{t1:.2f} s): {values}, latency {latency * 1000:.1f} ms", flush=True)

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} videos"),
                  TimeRemainingColumn(), transient=True, disable=args.stream) as progress:
        task = progress.add_task("infer", total=len(sources))
        for source, name in zip(sources, output_names(sources)):
            started = time.perf_counter()
            try:
                if args.stream:
                    print(f"{source}:", flush=True)
                    result = predictor.stream(source, name, on_window=print_window, input_format=args.format,
                                              follow_seconds=args.follow)
                else:
                    result = predictor.predict_file(Path(source), name)
                summary = write_outputs(result, out / name, threshold, args.min_segment)
                summary.update(source=source, output=str(out / name), seconds=round(time.perf_counter() - started, 3))
                summaries.append(summary)
                progress.console.print(_summary_line(summary, predictor.model.task), highlight=False, soft_wrap=True)
                for warning in summary.get("warnings", []):
                    progress.console.print(f"warning: {source}: {warning}", highlight=False, soft_wrap=True)
            except UserError as error:
                errors.append({"video": source, "reason": str(error)})
                progress.console.print(f"failed: {source}: {error}", highlight=False, soft_wrap=True)
            except Exception as error:  # one bad file must not stop the others
                traceback.print_exc()
                errors.append({"video": source, "reason": f"{type(error).__name__}: {error}"})
                progress.console.print(f"failed: {source}: {type(error).__name__}: {error}", highlight=False, soft_wrap=True)
            progress.advance(task)
    report = {"done": len(summaries), "failed": len(errors), "videos": summaries, "errors": errors}
    (out / "summary.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "errors.json").write_text(json.dumps(errors, indent=1) + "\n")
    print(f"{len(summaries)} video(s) done, {len(errors)} failed; results in {out}")
    return report


def infer_main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    report = run_infer(args)
    return 1 if report["failed"] else 0
