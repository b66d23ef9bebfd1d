"""Inference benchmark: windows per second and per-window latency on CPU with the tiny preset,
batch mode (decord, chunks of 8 windows) vs streaming (PyAV, one window at a time), and peak
resident memory for a 1-minute and a 10-minute video (each measured in its own process).

    python benchmarks/infer_speed.py [--out benchmarks/results/infer_speed.json]

The videos are synthetic 64x64 H.264 clips at 24 fps; the model is the demo's architecture
with its tiny encoders (speed does not depend on trained weights).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def write_long_video(path: Path, seconds: int, fps: int = 24, size: int = 64) -> Path:
    from datamodules.synthetic_videos import render_clip, write_mp4

    rng = np.random.default_rng(0)
    frames = np.concatenate([render_clip(bool(i % 2), 10 * fps, size, rng) for i in range(seconds // 10)])
    write_mp4(path, frames, fps)
    return path


def child(video: str, mode: str) -> None:
    """In a fresh process: predict every window of one video and report speed and peak RSS."""
    import torch

    from datamodules.windows import WindowSpec
    from lightning_app.inference import VideoPredictor
    from models.lit_module import VideoFusionModule

    torch.manual_seed(0)
    model = VideoFusionModule(video_encoder={"name": "videoprism-tiny", "seed": 0}, clip_encoder={"name": "clip-tiny", "seed": 0},
                              captioner={"name": "blip-tiny", "seed": 0}, hidden_dim=64, input_norm="center")
    predictor = VideoPredictor(model, WindowSpec(frame_size=32), "cpu")
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    result = predictor.stream(video, "v") if mode == "stream" else predictor.predict_file(Path(video), "v")
    seconds = time.perf_counter() - started
    report = {"mode": mode, "windows": len(result.starts), "frames": result.num_frames, "seconds": seconds,
              "windows_per_second": len(result.starts) / seconds,
              "baseline_peak_rss_mb": baseline, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if result.latencies:
        report["latency_ms_median"] = 1000 * statistics.median(result.latencies)
        report["latency_ms_p95"] = 1000 * float(np.percentile(result.latencies, 95))
    print(json.dumps(report))


def run_child(video: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(video), mode], capture_output=True, text=True,
                         check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "infer_speed.json"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from lightning_app.terminal import print_table

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        one = write_long_video(Path(tmp) / "one_minute.mp4", 60)
        ten = write_long_video(Path(tmp) / "ten_minutes.mp4", 600)
        for label, video in (("1 min", one), ("10 min", ten)):
            for mode in ("batch", "stream"):
                results[f"{label} {mode}"] = run_child(video, mode)
    rows = []
    for name, r in results.items():
        latency = f"{r['latency_ms_median']:.1f} / {r['latency_ms_p95']:.1f}" if "latency_ms_median" in r else "-"
        rows.append((name, str(r["windows"]), f"{r['windows_per_second']:.1f}", latency,
                     f"{r['peak_rss_mb']:.0f} (start {r['baseline_peak_rss_mb']:.0f})"))
    print_table("inference benchmark (tiny preset, CPU, 64x64 video at 24 fps)",
                ("video, mode", "windows", "windows/s", "latency ms median / p95", "peak RSS MB"), rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
