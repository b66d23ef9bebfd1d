"""``python -m lightning_app submit --ckpt_path A.ckpt [--ckpt_path B.ckpt ...] --data.root DVD/ --split Test --out sub/``

Writes the challenge's submission files for every video of a split of the dataset as released
(``lightning_app/submission.py`` has the formats):

* DVD (violence checkpoints; the release's ``Training/``, ``Validation/``, ``Test/`` folders): a
  ``<video>.csv`` per video (``Frame_Number,Predicted_Label``, a row for every frame) and all of
  them in ``submission.zip``;
* Aff-Wild2 (valence-arousal checkpoints): a ``<track>.txt`` per video or face track
  (``valence,arousal``, a line per frame) and ``submission.zip``. The tracks of ``--split Test``
  are the names in ``--names FILE`` (one per line, as the challenge lists them), or the files of
  ``Test_Set`` if the annotations folder has one.

Several ``--ckpt_path`` (or a ``cv`` folder: the best checkpoint of each of its folds) are an
ensemble: their frame predictions are averaged. ``--stride N`` cuts windows every N frames
(denser than training gives more windows per frame), ``--smooth K`` averages each frame's
prediction with its neighbours over K frames. Every frame of every video gets a prediction:
frames no window covers take the nearest covered frame's. ``--threshold`` (violence): a number,
``best`` (the threshold that maximised frame macro F1 in the validation of each checkpoint, from
its run's summary.json; averaged over an ensemble), or the model's own by default.

With ``--split Validation`` (or ``Training``) the annotations are there too, and the command
prints the challenge's score computed from the files written: for one checkpoint with its own
stride and threshold, the ``val/frame_macro_f1`` (or ``val/frame_ccc``) its validation reported.
A video that cannot be read is reported and named in the archive's ``MISSING.txt``; the command
then exits with status 1. ``summary.json`` and ``errors.json`` are written to ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from datamodules.affwild2 import find_annotation_dir, find_videos, fitted_va_targets, video_stem
from datamodules.dvd_release import fitted_targets, is_release_layout, read_annotation, split_files
from datamodules.labels import FrameTargets
from datamodules.windows import WindowSpec
from lightning_app.errors import ConfigError, DataError, UserError
from lightning_app.files import read_json
from lightning_app.infer import load_model, resolve_threshold
from lightning_app.inference import VideoPredictor
from lightning_app.submission import dvd_macro_f1, write_dvd_predictions, write_va_predictions, zip_submission
from models.ccc import concordance_cc

SPLITS = {"Training": "Train_Set", "Validation": "Validation_Set", "Test": "Test_Set"}  # DVD name: Aff-Wild2 name
ARCHIVE = "submission.zip"

# a track to predict: its video (None when there is none: reported as missing), and its
# annotation's targets given the frame count (None for Test)
Track = tuple[Optional[Path], Optional[Callable[[int], FrameTargets]]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lightning_app submit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", action="append", required=True,
                        help="a checkpoint, or a cv folder (each fold's best); repeat for an ensemble")
    parser.add_argument("--data.root", dest="root", required=True, help="the dataset as released")
    parser.add_argument("--split", choices=list(SPLITS), default="Test")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--threshold", default=None, help="violence: a number, or best; default: the model's")
    parser.add_argument("--stride", type=int, default=None, help="window stride in frames (default: training's)")
    parser.add_argument("--smooth", type=int, default=1, help="average frame predictions over this many frames")
    parser.add_argument("--names", default=None, help="Aff-Wild2: a file naming the tracks to predict, one per line")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--windows_per_batch", type=int, default=8)
    return parser


def expand_checkpoints(items: Sequence[str]) -> list[Path]:
    """Checkpoint files as given; a folder stands for the best checkpoints its fits' summaries name."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            best = sorted({s["ckpt_path"] for p in path.rglob("summary.json")
                           if (s := read_json(p) or {}).get("stage") == "fit" and s.get("ckpt_path")})
            if not best:
                raise ConfigError(f"--ckpt_path {path}: a folder, but no fit summary in it names a checkpoint")
            found += [Path(p) for p in best]
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"--ckpt_path {path}: no such checkpoint file or folder")
    return found


def dvd_tracks(root: Path, split: str, tolerance: int) -> dict[str, Track]:
    """The videos of a split of the DVD release, with their annotations where the split has them."""
    if not is_release_layout(root):
        raise ConfigError(f"--data.root {root}: not the DVD release layout (Training/videos, Validation/videos, "
                          "Test/videos); submit writes files for the release's videos")
    videos, annotations = split_files(root, split)
    tracks: dict[str, Track] = {}
    for name, video in videos.items():
        annotation = annotations.get(name)
        truth = (functools.partial(fitted_targets, read_annotation(annotation), annotation, tolerance)
                 if annotation is not None else None)
        tracks[name] = (video, truth)
    if not tracks:
        raise ConfigError(f"--data.root {root}: no videos in {split}/videos")
    return tracks


def affwild2_tracks(root: Path, split: str, names_file: Optional[str], annotations_dir: Optional[str],
                    tolerance: int) -> dict[str, Track]:
    """The tracks of a split of Aff-Wild2: ``--names`` or the split's annotation files."""
    annotation_root = find_annotation_dir(root, annotations_dir)
    split_dir = annotation_root / SPLITS[split]
    if names_file is not None:
        if not Path(names_file).is_file():
            raise ConfigError(f"--names {names_file}: no such file (one track name per line)")
        names = [line.strip() for line in Path(names_file).read_text().splitlines() if line.strip()]
    else:
        names = sorted(p.stem for p in split_dir.glob("*.txt"))
    if not names:
        raise ConfigError(f"no {split} tracks: {split_dir} holds no annotation files; pass --names FILE")
    videos = find_videos(root, annotation_root)
    tracks: dict[str, Track] = {}
    for name in names:
        video = videos.get(name) or videos.get(video_stem(name))
        annotation = split_dir / f"{name}.txt"
        truth = functools.partial(fitted_va_targets, annotation, tolerance) if annotation.is_file() else None
        tracks[name] = (video, truth)
    return tracks


def fill_uncovered(preds: np.ndarray) -> np.ndarray:
    """Frames no window covers (NaN rows) take the nearest covered frame's prediction."""
    covered = np.flatnonzero(~np.isnan(preds).any(axis=1))
    if len(covered) == 0 or len(covered) == len(preds):
        return preds
    nearest = covered[np.clip(np.searchsorted(covered, np.arange(len(preds))), 0, len(covered) - 1)]
    before = covered[np.clip(np.searchsorted(covered, np.arange(len(preds))) - 1, 0, len(covered) - 1)]
    pick = np.where(np.abs(before - np.arange(len(preds))) <= np.abs(nearest - np.arange(len(preds))), before, nearest)
    return preds[pick]


def smooth(preds: np.ndarray, frames: int) -> np.ndarray:
    """Each frame's prediction averaged with its neighbours over ``frames`` frames (centred; fewer at the ends)."""
    if frames <= 1:
        return preds
    kernel = np.ones(frames)
    sums = np.stack([np.convolve(preds[:, c], kernel, mode="same") for c in range(preds.shape[1])], axis=1)
    counts = np.convolve(np.ones(len(preds)), kernel, mode="same")[:, None]
    return sums / counts


def ensemble_frames(predictors: list[VideoPredictor], path: Path, name: str, frames: int) -> np.ndarray:
    """The ensemble's frame predictions (N, C) for one video, every frame, smoothed: the mean over
    its models (a predictor holds the models of one window spec and decodes the video once)."""
    results = [predictor.predict_file(path, name) for predictor in predictors]
    counts = {result.num_frames for result in results}
    if len(counts) != 1:
        raise DataError(f"{path}: the checkpoints' window specs decoded different frame counts {sorted(counts)}")
    weights = [len(predictor.models) for predictor in predictors]
    mean = np.average([result.frame_preds() for result in results], axis=0, weights=weights)
    return smooth(fill_uncovered(mean), frames)


def load_ensemble(checkpoints: list[Path], stride: Optional[int], device: str,
                  windows_per_batch: int) -> tuple[list[VideoPredictor], list[tuple[Any, dict[str, Any]]]]:
    """One predictor per distinct window spec (``--stride`` replacing each one's stride), holding
    the models trained with it; and each checkpoint's model and datamodule settings, in order."""
    if stride is not None and stride < 1:
        raise ConfigError(f"--stride must be at least 1, got {stride}")
    groups: dict[WindowSpec, list] = {}
    settings = []
    for path in checkpoints:
        model, spec, data = load_model(str(path))
        groups.setdefault(spec if stride is None else replace(spec, stride=stride), []).append(model)
        settings.append((model, data))
    return [VideoPredictor(models, spec, device, windows_per_batch) for spec, models in groups.items()], settings


def run_submit(args: argparse.Namespace) -> dict[str, Any]:
    checkpoints = expand_checkpoints(args.ckpt_path)
    predictors, loaded = load_ensemble(checkpoints, args.stride, args.device, args.windows_per_batch)
    tasks = {model.task.name for model, _ in loaded}
    if len(tasks) != 1:
        raise ConfigError(f"the checkpoints are of different tasks ({', '.join(sorted(tasks))}): one submission each")
    task, data = loaded[0][0].task, loaded[0][1]
    root, out = Path(args.root), Path(args.out)
    tolerance = int(data.get("max_frame_mismatch") or 0)
    violence = task.name == "violence"
    tracks = (dvd_tracks(root, args.split, tolerance) if violence else
              affwild2_tracks(root, args.split, args.names, data.get("annotations_dir"), tolerance))
    threshold = (float(np.mean([resolve_threshold(args.threshold, path, model.hparams.get("threshold", 0.5))
                                for path, (model, _) in zip(checkpoints, loaded)])) if violence else None)
    out.mkdir(parents=True, exist_ok=True)
    written, errors, truths, pooled = [], [], {}, []
    for name, (video, truth) in tracks.items():
        try:
            if video is None:
                raise DataError(f"no video named {video_stem(name)}.* under {root}")
            frames = ensemble_frames(predictors, video, name, args.smooth)
            if violence:
                written.append(write_dvd_predictions(out / f"{name}.csv", (frames[:, 0] > threshold).astype(np.uint8)))
            else:
                written.append(write_va_predictions(out / f"{name}.txt", frames))
            if truth is not None:
                targets = truth(len(frames))
                truths[name] = (targets.values[:, 0], targets.valid)
                pooled.append((frames[targets.valid], targets.values[targets.valid]))
        except UserError as error:
            errors.append({"video": name, "reason": str(error)})
        except Exception as error:  # one bad video must not stop the others
            traceback.print_exc()
            errors.append({"video": name, "reason": f"{type(error).__name__}: {error}"})
    for error in errors:
        print(f"failed: {error['video']}: {error['reason']}", file=sys.stderr)
    archive = zip_submission(out / ARCHIVE, written, [f"{e['video']}: {e['reason']}" for e in errors])
    report: dict[str, Any] = {"split": args.split, "task": task.name, "checkpoints": [str(p) for p in checkpoints],
                              "threshold": threshold, "stride": args.stride, "smooth": args.smooth,
                              "videos": len(tracks), "written": len(written), "failed": len(errors),
                              "archive": str(archive)}
    if pooled and not errors and len(truths) == len(tracks):
        report["score"] = _score(violence, out, truths, pooled)
    (out / "summary.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "errors.json").write_text(json.dumps(errors, indent=1) + "\n")
    score = f"; the challenge's score from these files: {report['score']:.4f}" if "score" in report else ""
    print(f"{len(written)} of {len(tracks)} {args.split} video(s) written to {out}, archive {archive}{score}")
    return report


def _score(violence: bool, out: Path, truths: dict, pooled: list) -> float:
    """DVD: frame macro F1 read back from the files; Aff-Wild2: the mean of the valence and
    arousal CCC over the annotated frames pooled."""
    if violence:
        return dvd_macro_f1(out, truths)
    preds, targets = (torch.from_numpy(np.concatenate([part[i] for part in pooled])) for i in (0, 1))
    return float(concordance_cc(preds.double(), targets.double()).mean())


def submit_main(argv: Sequence[str]) -> int:
    report = run_submit(build_parser().parse_args(list(argv)))
    return 1 if report["failed"] else 0
