"""GPU benchmark: the real-size encoders in float32 and bfloat16, `extract` end to end (GPU
utilisation, and whether decoding keeps up with the encoders), and training steps in
32-bit and bf16-mixed precision.

    python benchmarks/gpu_speed.py [--out benchmarks/results/gpu_speed.json] [--clips 16]
        [--clip-size 320] [--seconds 24] [--encoder-batches 8 32] [--workers 0 4 8]
        [--extract-batch-sizes 8 32] [--epochs 5] [--train-batch-sizes 8 64] [--repeats 10]
        [--profile] [--skip encoders extraction training] [--small]

Needs a CUDA device (``--small`` runs the same steps with small encoders on whatever device
there is, to check the script). No weights are needed: the encoders are the paper's
architectures at their real sizes with random weights (``benchmarks/random_encoders.py``:
VideoPrism-B at 288 px, open_clip ViT-B-16, BLIP-base), saved to a temporary folder and
loaded through the normal registry. Speed does not depend on trained weights, with one
exception: a random captioner may end a caption at any token, so every caption is made
as long as the captioner's limit (20 new tokens, ``min_new_tokens`` = ``max_new_tokens``),
the slowest case a trained one can reach.

1. **Encoders**: batches of ``--encoder-batches`` windows as ``dvd.yaml`` makes them (16
   video and 16 image frames, 4 text frames, 288 px, random uint8 frames on the GPU) through
   each encoder and through the whole frozen extractor, with the encoders' ``dtype`` float32
   and then bfloat16; the median of ``--repeats`` timed batches after 2 warm-up ones,
   synchronised. float32 is strict float32 (torch's default: no TF32). The captioner's
   preprocessing is also timed alone, for frames on the GPU and for frames on the host.
2. **Extraction**: ``python -m lightning_app extract`` on ``--clips`` synthetic H.264 clips
   (``--clip-size`` px, ``--seconds`` long) with the same encoders in their ``auto`` dtype
   (bfloat16 on a GPU that has it), for each ``--workers`` decoding workers at batch 8, and
   with the most workers for each of ``--extract-batch-sizes`` (``--data.batch_size``), each
   in a fresh process and into a fresh cache. Reported: windows/s over the encoders' loop, how long
   the encoders waited for decoded frames (the summary's ``wait_for_frames``), and the GPU
   utilisation NVML reports (the share of time a kernel was running), sampled every 0.1 s
   while the loop ran.
3. **Training**: ``python -m lightning_app fit`` from the last cache (the fusion model on
   real-size features: 768-d video, 512-d image and text, hidden 128, batch 8, as
   ``dvd.yaml``), ``--epochs`` epochs with ``trainer.precision`` 32-true and bf16-mixed, at
   each of ``--train-batch-sizes``, each in a fresh process; the median step time of the
   epochs after the first (``callbacks.TrainTimer``). ``--profile`` adds a run under
   Lightning's simple profiler.

Prints the tables and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import lightning.pytorch as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BATCH = 8
COUNTS = {"video": 16, "image": 16, "text": 4}
CAPTION_TOKENS = 20


def full_length_captions(spec: dict) -> dict:
    return {**spec, "max_new_tokens": CAPTION_TOKENS, "generate_kwargs": {"min_new_tokens": CAPTION_TOKENS}}


def encoder_specs(folder: Path, small: bool) -> dict[str, dict]:
    from benchmarks.random_encoders import save_random_encoders

    specs = save_random_encoders(folder, small=small)
    specs["captioner"] = full_length_captions(specs["captioner"])
    return specs


def _synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(call, device, repeats: int, warmup: int = 2) -> float:
    """Median seconds of ``call()`` over ``repeats`` runs after ``warmup`` ones."""
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(repeats):
        _synchronize(device)
        started = time.perf_counter()
        call()
        _synchronize(device)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def encoder_speeds(specs: dict[str, dict], frame_size: int, dtype: str, device, repeats: int, batch: int) -> dict:
    """Windows/s of each encoder and of the whole extractor for batches of ``batch`` windows."""
    import torch

    from models.feature_extractor import FrozenFeatureExtractor

    extractor = FrozenFeatureExtractor(*({**specs[role], "dtype": dtype} for role in ("video", "clip", "captioner")))
    extractor.to(device)
    generator = torch.Generator(device="cpu").manual_seed(0)

    def frames(count: int):
        return torch.randint(0, 256, (batch, count, frame_size, frame_size, 3), dtype=torch.uint8,
                             generator=generator).to(device)

    video, image, text = frames(COUNTS["video"]), frames(COUNTS["image"]), frames(COUNTS["text"])
    text_frames = text.reshape(-1, *text.shape[2:])
    host_text_frames = text_frames.cpu()
    captions = extractor.captioner(text_frames)
    parts = {
        "video encoder (16 frames)": lambda: extractor.video(video),
        "CLIP image tower (16 frames)": lambda: extractor.clip.encode_frames(image),
        f"captioner (4 frames, {CAPTION_TOKENS} tokens each)": lambda: extractor.captioner(text_frames),
        "  of which preprocessing (frames where they are)": lambda: extractor.captioner.prepare(text_frames),
        "  preprocessing of frames on the host": lambda: extractor.captioner.prepare(host_text_frames),
        "CLIP text tower (4 captions)": lambda: extractor.clip.encode_texts(captions),
        "whole extractor": lambda: extractor(video, image, text),
    }
    results = {}
    with torch.inference_mode():
        for name, call in parts.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds = time_calls(call, device, repeats)
            results[name] = {"batch_seconds": seconds, "windows_per_second": batch / seconds,
                             "peak_gpu_memory_mb": (torch.cuda.max_memory_allocated(device) / 2**20
                                                    if device.type == "cuda" else None)}
    del extractor
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return results


class GpuUtilisation(pl.Callback):
    """Samples NVML's GPU utilisation every ``interval`` seconds while prediction runs and
    writes the samples, and how long prediction ran, to ``out`` (JSON) when it ends."""

    def __init__(self, out: str, interval: float = 0.1):
        self.out, self.interval = out, interval
        self.samples: list[float] = []
        self.error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self, handle, pynvml) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))

    def on_predict_start(self, trainer, pl_module) -> None:
        self.started = time.perf_counter()
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(pl_module.device.index or 0)
        except Exception as exc:  # no NVML (no GPU, or no nvidia-ml-py): say why
            self.error = f"{type(exc).__name__}: {exc}"
            return
        self._thread = threading.Thread(target=self._sample, args=(handle, pynvml), daemon=True)
        self._thread.start()

    def on_predict_end(self, trainer, pl_module) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        Path(self.out).write_text(json.dumps({"samples": self.samples, "error": self.error,
                                              "loop_seconds": time.perf_counter() - self.started}))


def bench_config(folder: Path, specs: dict[str, dict], clips: int, clip_size: int, frame_size: int) -> Path:
    """The benchmark's run config: dvd.yaml's model and windows on synthetic clips."""
    import yaml

    config = {
        "seed_everything": 0,
        "trainer": {"accelerator": "auto", "devices": 1, "default_root_dir": str(folder / "runs"), "logger": False,
                    "enable_progress_bar": False, "enable_checkpointing": False, "num_sanity_val_steps": 0},
        "model": {"task": "violence", "video_encoder": specs["video"], "clip_encoder": specs["clip"],
                  "captioner": specs["captioner"], "hidden_dim": 128, "input_norm": "layer", "lr": 3.0e-4},
        "data": {"class_path": "datamodules.demo.SyntheticVideoDataModule",
                 "init_args": {"root": str(folder / "data"), "num_clips": clips, "clip_size": clip_size, "fold": 0,
                               "window": 64, "stride": 32, "frame_size": frame_size, "batch_size": BATCH}},
    }
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def write_clips(root: Path, clips: int, size: int, seconds: int) -> None:
    from datamodules.synthetic_videos import write_synthetic_dataset

    write_synthetic_dataset(root, clips, size, min_seconds=seconds, max_seconds=seconds)


def extract_child(config: str, cache: str, workers: int, batch: int, util_out: str) -> None:
    """In a fresh process: ``extract`` into ``cache`` with ``workers`` decoding workers,
    ``batch`` windows per encoder call."""
    from lightning_app.extract import run_extract

    sampler = json.dumps({"class_path": "benchmarks.gpu_speed.GpuUtilisation", "init_args": {"out": util_out}})
    summary = run_extract(["--config", config, "--data.cache_dir", cache, "--data.num_workers", str(workers),
                           "--data.batch_size", str(batch), f"--trainer.callbacks+={sampler}"])
    print(json.dumps(summary))


def measure_extraction(config: Path, folder: Path, workers: int, batch: int) -> dict:
    cache, util_out = folder / f"cache-{workers}w-b{batch}", folder / f"gpu-util-{workers}w-b{batch}.json"
    out = subprocess.run([sys.executable, __file__, "--extract-child", str(config), str(cache), str(workers), str(batch),
                          str(util_out)], capture_output=True, text=True, cwd=REPO)
    if out.returncode:
        raise SystemExit(f"extract with {workers} workers, batch {batch} failed:\n{out.stderr[-3000:]}")
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    util = json.loads(util_out.read_text())
    seconds = summary["seconds"]
    loop = util["loop_seconds"]
    return {"workers": workers, "batch_size": batch, "windows": summary["windows"], "videos": summary["extracted"],
            "loop_seconds": loop, "windows_per_second": summary["windows"] / loop,
            "encode_seconds": seconds["encode"], "wait_for_frames_seconds": seconds["wait_for_frames"],
            "write_seconds": seconds["write"], "decode_worker_seconds": seconds["decode"],
            "gpu_utilisation_mean": statistics.fmean(util["samples"]) if util["samples"] else None,
            "gpu_utilisation_samples": len(util["samples"]), "gpu_utilisation_error": util["error"],
            "cache": str(cache)}


def measure_training(config: Path, cache: str, precision: str, epochs: int, batch_size: int, folder: Path,
                     profile: bool = False) -> dict:
    root = folder / f"fit-{precision}-b{batch_size}{'-profiled' if profile else ''}"
    args = [sys.executable, "-m", "lightning_app", "fit", "--config", str(config), "--data.cache_dir", cache,
            "--data.use_cache", "always", "--data.batch_size", str(batch_size),
            "--trainer.precision", precision, "--trainer.max_epochs", str(epochs),
            "--trainer.default_root_dir", str(root), "--trainer.callbacks+=callbacks.TrainTimer"]
    if profile:
        args += ["--trainer.profiler", "simple"]
    out = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    if out.returncode:
        raise SystemExit(f"fit with precision {precision} failed:\n{out.stderr[-3000:]}")
    timing = json.loads(next(root.rglob("timing.json")).read_text())["epochs"]
    later = timing[1:] or timing
    result = {"precision": precision, "batch_size": batch_size, "steps_per_epoch": timing[0]["steps"],
              "step_ms_median": statistics.median(e["step_ms_median"] for e in later),
              "step_ms_mean": statistics.median(e["step_ms"] for e in later), "epochs": timing}
    if profile:  # the simple profiler's report, which fit prints at its end
        printed = out.stdout + out.stderr
        result["profile"] = printed[printed.find("FIT Profiler Report"):].strip().splitlines()
    return result


def _command_output(args: list[str]) -> str:
    return subprocess.run(args, capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "gpu_speed.json"))
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--clip-size", type=int, default=320)
    parser.add_argument("--seconds", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 4, 8])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--train-batch-sizes", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--encoder-batches", type=int, nargs="+", default=[8, 32], help="windows per encoder call")
    parser.add_argument("--extract-batch-sizes", type=int, nargs="+", default=[8, 32],
                        help="extract's --data.batch_size, with the most workers")
    parser.add_argument("--profile", action="store_true",
                        help="one more fit (32-true, batch 8) under Lightning's simple profiler; its report in the JSON")
    parser.add_argument("--small", action="store_true", help="small encoders of the same classes (checks the script)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["encoders", "extraction", "training"])
    parser.add_argument("--extract-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.extract_child:
        config, cache, workers, batch, util_out = args.extract_child
        return extract_child(config, cache, int(workers), int(batch), util_out)

    import torch

    from lightning_app.terminal import print_table

    if not torch.cuda.is_available() and not args.small:
        raise SystemExit("gpu_speed.py needs a CUDA device (--small checks the script on a CPU)")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    frame_size = 32 if args.small else 288
    results: dict = {
        "machine": {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "cpus": os.cpu_count(), "python": sys.version.split()[0], "torch": torch.__version__,
                    "nvidia_smi": _command_output(["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm",
                                             "--format=csv,noheader"]) if device.type == "cuda" else ""},
        "small": args.small, "frame_size": frame_size, "batch": BATCH, "caption_tokens": CAPTION_TOKENS,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        specs = encoder_specs(folder / "encoders", args.small)
        if "encoders" not in args.skip:
            results["encoders"] = {}
            for batch in args.encoder_batches:
                by_dtype = {dtype: encoder_speeds(specs, frame_size, dtype, device, args.repeats, batch)
                            for dtype in ("float32", "bfloat16")}
                results["encoders"][str(batch)] = by_dtype
                fp32, bf16 = by_dtype["float32"], by_dtype["bfloat16"]
                print_table(f"encoders, batches of {batch} windows at {frame_size} px (windows/s; median of {args.repeats})",
                            ("", "float32", "bfloat16", "bf16 / fp32", "peak GPU MB fp32 / bf16"),
                            [(name, f"{fp32[name]['windows_per_second']:.1f}", f"{bf16[name]['windows_per_second']:.1f}",
                              f"{bf16[name]['windows_per_second'] / fp32[name]['windows_per_second']:.2f}x",
                              f"{fp32[name]['peak_gpu_memory_mb'] or 0:.0f} / {bf16[name]['peak_gpu_memory_mb'] or 0:.0f}")
                             for name in fp32])
        if not {"extraction", "training"} <= set(args.skip):
            config = bench_config(folder, specs, args.clips, args.clip_size, frame_size)
            write_clips(folder / "data", args.clips, args.clip_size, args.seconds)
            results["clips"] = {"clips": args.clips, "size": args.clip_size, "seconds": args.seconds, "fps": 24}
            settings = [(workers, BATCH) for workers in args.workers]
            settings += [(max(args.workers), batch) for batch in args.extract_batch_sizes if batch != BATCH]
            runs = [measure_extraction(config, folder, workers, batch) for workers, batch in settings]
            results["extraction"] = runs
            print_table(f"extract: {args.clips} clips of {args.clip_size} px, {args.seconds} s; encoders in their auto dtype",
                        ("decoding workers", "batch", "windows", "windows/s", "waiting for frames", "GPU busy (NVML)"),
                        [(str(r["workers"]), str(r["batch_size"]), str(r["windows"]), f"{r['windows_per_second']:.1f}",
                          f"{r['wait_for_frames_seconds']:.1f} s of {r['loop_seconds']:.1f} s",
                          "n/a" if r["gpu_utilisation_mean"] is None else f"{r['gpu_utilisation_mean']:.0f} %")
                         for r in runs])
            if "training" not in args.skip:
                cache = runs[0]["cache"]
                results["training"] = [measure_training(config, cache, precision, args.epochs, batch_size, folder)
                                       for batch_size in args.train_batch_sizes for precision in ("32-true", "bf16-mixed")]
                if args.profile:
                    profiled = measure_training(config, cache, "32-true", args.epochs, BATCH, folder, profile=True)
                    results["training_profile"] = profiled["profile"]
                    print("\n".join(profiled["profile"][:40]))
                print_table(f"fit from the cache ({args.epochs} epochs; median over epochs after the first)",
                            ("precision", "batch", "steps/epoch", "ms/step (median step)", "ms/step (epoch mean)"),
                            [(r["precision"], str(r["batch_size"]), str(r["steps_per_epoch"]),
                              f"{r['step_ms_median']:.2f}", f"{r['step_ms_mean']:.2f}") for r in results["training"]])
    for run in results.get("extraction", []):
        run.pop("cache")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
