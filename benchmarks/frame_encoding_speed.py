"""Encoding each frame once: extraction windows/s with every window's frames encoded (the path before) against each
distinct frame once (``FrozenFeatureExtractor.encode``), at stride 32 and 16, with the paper's encoders at their
real sizes (random weights, ``benchmarks/random_encoders.py``; captions at their full 20 tokens); then ``extract``'s
own windows/s, and one training epoch with those encoders in the loop against one from the cache.

    python benchmarks/frame_encoding_speed.py [--out benchmarks/results/frame_encoding_speed.json] [--clips 2]
        [--seconds 8] [--small] [--paths-from earlier.json]

The two paths read the same chunks (8 windows, frames resized to 288 as ``dvd.yaml`` does, each stream in its
encoder's framing) and take turns clip by clip, so the machine's drift falls on both. ``--small`` uses the small
encoders (a check of the script).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FRAME_SIZE = 288


def compare_paths(extractor, clips: list[Path], stride: int) -> dict:
    """Windows/s of the two paths over the clips' chunks, and what each encoded."""
    import torch

    from datamodules.batch import stream_frames
    from datamodules.framing import resolve_framing
    from datamodules.window_source import VideoWindowSource
    from datamodules.windows import WindowSpec
    from models.frame_encoding import FrameMemo

    encoders = {"video": {"name": "videoprism"}, "clip": {"name": "open_clip"}, "captioner": {"name": "blip"}}
    spec = WindowSpec(64, stride, {"video": 16, "image": 16, "text": 4}, FRAME_SIZE, resolve_framing("encoders", encoders))
    seconds = {"every_window": 0.0, "each_frame_once": 0.0}
    windows, image_frames, captions = 0, 0, 0
    with torch.inference_mode():
        for clip in clips:
            chunks = list(VideoWindowSource(clip, spec, windows_per_chunk=8))
            started = time.perf_counter()
            for chunk in chunks:
                streams = stream_frames(chunk)
                extractor(streams["video"], streams["image"], streams["text"])
            seconds["every_window"] += time.perf_counter() - started
            memo, started = FrameMemo(), time.perf_counter()
            for chunk in chunks:
                keys = [(str(clip), n) for n in chunk["frame_numbers"].tolist()]
                _, _, counts = extractor.encode(chunk["frames"], chunk["stream_rows"], row_keys=keys, memo=memo)
                image_frames += counts.image_frames_encoded
                captions += counts.captions_encoded
            seconds["each_frame_once"] += time.perf_counter() - started
            windows += sum(len(chunk["starts"]) for chunk in chunks)
    return {"stride": stride, "windows": windows,
            "windows_per_second": {path: round(windows / s, 3) for path, s in seconds.items()},
            "speed_up": round(seconds["every_window"] / seconds["each_frame_once"], 2),
            "image_frames_encoded": {"every_window": 16 * windows, "each_frame_once": image_frames},
            "captions_encoded": {"every_window": 4 * windows, "each_frame_once": captions}}


def run(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "lightning_app", *args], capture_output=True, text=True, cwd=REPO,
                         env={**__import__("os").environ, "WANDB_MODE": "disabled"})
    if out.returncode:
        raise SystemExit(f"{args[0]} failed:\n{out.stderr[-3000:]}")
    return out


def epoch_seconds(config: Path, folder: Path, *extra: str) -> float:
    """One training epoch's time (``callbacks.TrainTimer``), no validation."""
    run(["fit", "--config", str(config), "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "0",
         "--trainer.default_root_dir", str(folder), "--trainer.callbacks+=callbacks.TrainTimer", *extra])
    timing = json.loads(next(folder.rglob("timing.json")).read_text())
    return timing["epochs"][0]["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "frame_encoding_speed.json"))
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--paths-from", help="a JSON of the path comparison from an earlier run: skip that part")
    args = parser.parse_args()
    from benchmarks.gpu_speed import bench_config, encoder_specs, write_clips
    from models.feature_extractor import FrozenFeatureExtractor

    result = {"small": args.small, "frame_size": FRAME_SIZE}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        specs = encoder_specs(folder / "weights", small=args.small)
        extractor = FrozenFeatureExtractor(specs["video"], specs["clip"], specs["captioner"])
        write_clips(folder / "clips", args.clips, 160, args.seconds)
        clips = sorted((folder / "clips" / "clips").glob("*.mp4"))
        result["paths"] = (json.loads(Path(args.paths_from).read_text()) if args.paths_from
                           else [compare_paths(extractor, clips, stride) for stride in (32, 16)])
        print(json.dumps(result["paths"], indent=2), flush=True)
        # extract, and an epoch in the loop vs from the cache, on the demo datamodule's five folds of 5 clips
        config = bench_config(folder, specs, clips=5, clip_size=160, frame_size=FRAME_SIZE)
        from lightning_app.extract import run_extract

        started = time.perf_counter()
        summary = run_extract(["--config", str(config), "--data.cache_dir", str(folder / "cache"),
                               "--data.num_workers", "0"])
        wall = time.perf_counter() - started
        result["extract"] = {key: summary[key] for key in ("windows", "image_frames_encoded", "captions_encoded",
                                                           "seconds")}
        result["extract"].update(wall_seconds=round(wall, 1), windows_per_second=round(summary["windows"] / wall, 3))
        in_loop = epoch_seconds(config, folder / "in_loop", "--data.use_cache", "never", "--data.num_workers", "0")
        cached = epoch_seconds(config, folder / "cached", "--data.cache_dir", str(folder / "cache"))
        result["epoch_seconds"] = {"encoders_in_the_loop": round(in_loop, 2), "from_the_cache": round(cached, 3),
                                   "ratio": round(in_loop / cached, 1)}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
