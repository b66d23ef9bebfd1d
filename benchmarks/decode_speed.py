"""Decoding: the raw-video data pipeline vs the floor of decoding every frame once.

    python benchmarks/decode_speed.py [--clips 12] [--size 256] [--seconds 24] [--repeats 3]
                                      [--out benchmarks/results/decode_speed.json]

Synthetic H.264 clips (``--size`` px square, 24 fps, ``--seconds`` long, keyframe every 250
frames, x264 defaults). Measured, all on the same clips, in this process unless noted:

* floor: PyAV decoding every frame of every clip, one thread (FFmpeg's own decoder, as
  ``ffmpeg -threads 1 -i X -f null -`` would), frames converted to RGB; measured again at
  the start of every round, and each pipeline's run is compared with its own round's floor
  (this machine's speed drifts by 10-30 % over minutes);
* training pipeline: ``WindowDataset`` items (decord decode of each window's union of stream
  indices, resize to 224 for all three streams, collated into batches of 8), in this
  process, then with 1 and 2 DataLoader workers; the second of two epochs is timed
  (workers persist, as in training). In the default ``shuffled`` window order (each window
  decoded on its own, in random order) and in the ``by_video`` order
  (``datamodules/video_order.py``: each worker decodes its videos front to back, readers
  kept open). ``--repeats`` rounds over everything; each figure is the median over rounds;
* validation pipeline: the same items in dataset order, as validation, test and predict
  read them from videos: before, each window decoded on its own and batches dealt to the
  workers round robin; now (``datamodules/eval_order.py``) each worker reads one run of
  consecutive windows with readers kept open;
* extraction pipeline: ``extract``'s loader (``VideoChunkStream``: each clip decoded front to
  back once, windows gathered and resized, a chunk of 8 windows per item), in this process
  (decoding in a background thread, as ``--data.num_workers 0`` does) and with 1 and 2
  DataLoader workers (each taking the next clip not yet taken), in each round too; workers
  start within the timed pass, as they do in ``extract``.

* worker timeline: one more pass of ``by_video`` with 1 and 2 workers, each item logging
  which worker read it and when; per worker, the share of its epoch spent reading items and
  between batches (collating into shared memory, handing the batch over, and any waiting for
  the next batch's indices), and whether it finished before the last batch arrived: whether
  the workers ever wait for each other or for the main process.

Each pipeline is reported as windows/s and as a fraction of the floor's (the windows of the
clips over the seconds it takes to decode all their frames), and per core: its windows per
CPU second (this process and its workers, every thread: decord decodes in a thread of its
own, so one worker uses more than one core) over the floor's. Target: at least 0.8 of the
floor per core, and near-linear scaling with workers on 2 cores. As the reference for
scaling, the floor is also measured in 2 processes at once, each decoding every clip (what
this machine's two cores give, and, as its per-core figure, what a CPU second of decoding is
worth while both cores are busy: the fair reference for 2 workers), and so is the
``by_video`` pipeline in-process (no DataLoader).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

COUNTS = {"video": 16, "image": 16, "text": 4}
WINDOW, STRIDE, FRAME_SIZE = 64, 32, 224


def write_clips(folder: Path, clips: int, size: int, seconds: int) -> list[Path]:
    import numpy as np

    from datamodules.synthetic_videos import render_clip, write_mp4

    rng = np.random.default_rng(0)
    paths = []
    for index in range(clips):
        path = folder / f"clip{index:02d}.mp4"
        write_mp4(path, render_clip(index % 2 == 0, 24 * seconds, size, rng), fps=24)
        paths.append(path)
    return paths


def process_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system, all threads) used so far by processes ``pids`` (Linux)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def floor_seconds(paths: list[Path]) -> tuple[float, int]:
    import av

    frames, started = 0, time.perf_counter()
    for path in paths:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"
            stream.codec_context.thread_count = 1
            for frame in container.decode(stream):
                frame.to_ndarray(format="rgb24")
                frames += 1
    return time.perf_counter() - started, frames


BATCH_SIZE = 8


def floor_parallel_seconds(paths: list[Path], processes: int = 2) -> tuple[float, float]:
    """Seconds and CPU seconds for ``processes`` processes at once, each decoding every clip
    (the same work each, so none waits on a costlier share: the clips differ 10x in bytes
    and 1.8x in decoding time, and no split of them is even): how far this machine's cores
    scale for decoding at all, and what a CPU second of decoding is worth when both cores are
    busy; the references for the pipelines with 2 workers."""
    from multiprocessing import get_context

    shares = [paths] * processes
    with get_context("spawn").Pool(processes) as pool:
        pool.map(floor_seconds, [paths[:1]] * processes)  # start and import before timing
        pids = [worker.pid for worker in pool._pool]
        cpu_started, started = process_cpu_seconds(pids), time.perf_counter()
        pool.map(floor_seconds, shares)
        return time.perf_counter() - started, process_cpu_seconds(pids) - cpu_started


def _by_video_in_process(paths: list[Path]) -> float:
    """Seconds for the ``by_video`` pipeline over ``paths`` in this process (run in a pool)."""
    import torch

    torch.set_num_threads(1)
    return training_pipeline(window_items(paths, open_readers=BATCH_SIZE + 1), 0, "by_video")


def by_video_parallel_scaling(paths: list[Path], processes: int = 2) -> float:
    """How the ``by_video`` pipeline scales with no DataLoader at all: ``processes``
    independent processes each reading every clip, against one (work per second, so
    ``processes`` x one's time over theirs). Separates what the machine gives for this work
    from what DataLoader workers cost."""
    from multiprocessing import get_context

    with get_context("spawn").Pool(processes) as pool:
        pool.map(_by_video_in_process, [paths[:1]] * processes)  # start and import before timing
        started = time.perf_counter()
        pool.apply(_by_video_in_process, (paths,))
        one = time.perf_counter() - started
        started = time.perf_counter()
        pool.map(_by_video_in_process, [paths] * processes)
        return processes * one / (time.perf_counter() - started)


def window_items(paths: list[Path], open_readers: int = 0):
    import numpy as np

    from datamodules.labels import constant_targets
    from datamodules.video_io import probe_video
    from datamodules.window_dataset import WindowDataset, WindowItem
    from datamodules.windows import WindowSpec, window_indices, window_starts

    items, targets = [], {}
    for index, path in enumerate(paths):
        frames = probe_video(path).num_frames
        targets[index] = constant_targets(0, frames)
        for start in window_starts(frames, WINDOW, STRIDE):
            items.append(WindowItem(index, path.name, path, start, min(start + WINDOW, frames), np.zeros(1, np.float32),
                                    window_indices(start, WINDOW, COUNTS, frames)))
    return WindowDataset(items, targets, WindowSpec(WINDOW, STRIDE, COUNTS, FRAME_SIZE), open_readers)


def training_pipeline(dataset, workers: int, order: str, cpu: dict | None = None, on_batch=None) -> float:
    """Seconds for one epoch of batches of every window, in ``order``, with ``workers``
    DataLoader workers (0: in this process). As in training, the workers persist across
    epochs; the first epoch (workers starting, readers opening) is left out and the second
    timed. ``cpu["seconds"]``, when given, gets the CPU time that epoch took in this process
    and its workers, every thread counted (decord decodes in a thread of its own). ``on_batch``,
    when given, is called with each batch of the timed epoch."""
    import torch

    from datamodules.batch import collate_windows
    from datamodules.eval_order import ContiguousRunSampler
    from datamodules.samplers import EpochSeededRandomSampler
    from datamodules.video_order import VideoOrderSampler

    if order == "by_video":
        sampler = VideoOrderSampler([w.video_index for w in dataset.windows], BATCH_SIZE, workers)
    elif order == "runs":  # validation from videos now
        sampler = ContiguousRunSampler(len(dataset), BATCH_SIZE, workers)
    elif order == "in_order":  # validation before: dataset order, batches dealt round robin
        sampler = torch.utils.data.SequentialSampler(dataset)
    else:
        sampler = EpochSeededRandomSampler(dataset)
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH_SIZE, sampler=sampler, num_workers=workers,
                                         collate_fn=collate_windows, persistent_workers=workers > 0)
    pids = [os.getpid()]
    for epoch in range(2):
        getattr(sampler, "set_epoch", lambda epoch: None)(epoch)
        if epoch == 1 and workers > 0:
            pids += [worker.pid for worker in loader._iterator._workers]  # persistent: the same ones again
        cpu_started, started = process_cpu_seconds(pids), time.perf_counter()
        for batch in loader:
            if on_batch is not None and epoch == 1:
                on_batch(batch)
    seconds = time.perf_counter() - started
    if cpu is not None:
        cpu["seconds"] = process_cpu_seconds(pids) - cpu_started
    getattr(dataset, "close_readers", lambda: None)()  # none left open in this process for what comes next
    return seconds


class TimedItems:
    """A map-style dataset around another: each item also carries which DataLoader worker read it
    (``-1``: this process) and when the reading started and ended (``time.perf_counter``,
    one clock for every process on Linux)."""

    def __init__(self, dataset):
        self.dataset, self.windows = dataset, dataset.windows

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        import torch

        started = time.perf_counter()
        item = self.dataset[index]
        ended = time.perf_counter()
        info = torch.utils.data.get_worker_info()
        return dict(item, read_by=info.id if info is not None else -1,
                    read_times=torch.tensor([started, ended], dtype=torch.float64))


def worker_timeline(reads: list[tuple[int, float, float]], batch_size: int, epoch_end: float) -> dict[str, dict]:
    """Where each worker's epoch went, from ``(worker, started, ended)`` of every item read.
    Per worker: the items it read, seconds reading them, seconds between its batches (collating
    a batch into shared memory, handing it over, and any wait for the next batch's indices: a
    gap far above the median one is a wait), seconds between items of one batch, and how long
    before ``epoch_end`` (when the last batch arrived) it read its last item."""
    by_worker: dict[int, list[tuple[float, float]]] = {}
    for worker, started, ended in reads:
        by_worker.setdefault(worker, []).append((started, ended))
    timeline = {}
    for worker, spans in sorted(by_worker.items()):
        spans.sort()
        gaps = [spans[k + 1][0] - spans[k][1] for k in range(len(spans) - 1)]
        between = [gap for k, gap in enumerate(gaps) if (k + 1) % batch_size == 0]
        timeline[str(worker)] = {
            "items": len(spans), "reading_s": sum(end - start for start, end in spans),
            "span_s": spans[-1][1] - spans[0][0], "between_batches_s": sum(between),
            "between_batches_median_ms": 1000 * _median(between) if between else 0.0,
            "between_batches_max_ms": 1000 * max(between) if between else 0.0,
            "within_batches_s": sum(gap for k, gap in enumerate(gaps) if (k + 1) % batch_size),
            "done_before_end_s": epoch_end - spans[-1][1],
        }
    return timeline


def by_video_timeline(dataset, workers: int) -> dict[str, dict]:
    """``worker_timeline`` of the timed epoch of the ``by_video`` pipeline with ``workers`` workers."""
    reads: list[tuple[int, float, float]] = []
    last_batch = 0.0

    def on_batch(batch: dict) -> None:
        nonlocal last_batch
        last_batch = time.perf_counter()
        reads.extend((int(worker), float(times[0]), float(times[1]))
                     for worker, times in zip(batch["read_by"], batch["read_times"]))

    training_pipeline(TimedItems(dataset), workers, "by_video", on_batch=on_batch)
    return worker_timeline(reads, BATCH_SIZE, last_batch)


def extraction_pipeline(paths: list[Path], workers: int) -> tuple[float, float, int, int]:
    """Seconds and CPU seconds for ``extract``'s loader over every clip (each decoded front to
    back once, a chunk of windows at a time) with ``workers`` DataLoader workers (0: a
    background thread in this process), with the windows and frames decoded. CPU time counts
    this process and the workers (children's CPU time, added once the loader has joined them
    at the end of the pass)."""
    import resource

    from datamodules.extraction_data import VideoChunkLoader, VideoChunkStream, VideoJob
    from datamodules.windows import WindowSpec

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    stream = VideoChunkStream([VideoJob(p.name, p) for p in paths], WindowSpec(WINDOW, STRIDE, COUNTS, FRAME_SIZE))
    loader = VideoChunkLoader(stream, num_workers=workers)
    windows, decoded = 0, {}
    cpu_started, started = process_cpu_seconds([os.getpid()]) + children_cpu(), time.perf_counter()
    for chunks in loader:  # the last next() joins the workers
        for chunk in chunks:
            windows += len(chunk["starts"])
            decoded[chunk["name"]] = chunk["frames_decoded"]
    seconds = time.perf_counter() - started
    cpu_seconds = process_cpu_seconds([os.getpid()]) + children_cpu() - cpu_started
    return seconds, cpu_seconds, windows, sum(decoded.values())


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seconds", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the training pipelines; medians are reported")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "decode_speed.json"))
    args = parser.parse_args()

    import torch

    from datamodules.window_datamodule import EVAL_OPEN_READERS
    from lightning_app.terminal import print_table

    torch.set_num_threads(1)  # per-core figures: resizing on one thread too
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_clips(Path(tmp), args.clips, args.size, args.seconds)
        cpu_started = process_cpu_seconds([os.getpid()])
        floor1_s, _ = floor_seconds(paths)  # the 2-process floor's reference, measured beside it
        floor1_cpu = process_cpu_seconds([os.getpid()]) - cpu_started
        floor2_s, floor2_cpu = floor_parallel_seconds(paths)
        by_video_scaling = by_video_parallel_scaling(paths)
        datasets = {"shuffled": window_items(paths), "by_video": window_items(paths, open_readers=BATCH_SIZE + 1)}
        # validation: before, in dataset order, each window decoded on its own; now each worker
        # reads a run of consecutive windows, with readers kept open
        evaluation = {"in_order": datasets["shuffled"], "runs": window_items(paths, open_readers=EVAL_OPEN_READERS)}
        windows = len(datasets["shuffled"])
        floors: list[tuple[float, float]] = []  # each round's floor: the machine drifts between rounds
        runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.repeats):  # rounds, so that a slow spell of the machine hits every pipeline
            cpu_started = process_cpu_seconds([os.getpid()])
            floor_s, frames = floor_seconds(paths)
            floors.append((floor_s, process_cpu_seconds([os.getpid()]) - cpu_started))
            for order, dataset in (*datasets.items(), *evaluation.items()):
                for workers in (0, 1, 2):
                    cpu: dict = {}
                    seconds = training_pipeline(dataset, workers, order, cpu)
                    runs.setdefault((order, str(workers)), []).append((seconds, cpu["seconds"]))
            for workers in (0, 1, 2):
                extracted = extraction_pipeline(paths, workers)
                runs.setdefault(("extraction", str(workers)), []).append(extracted[:2])
        extract_windows, extract_decoded = extracted[2:]
        # where each worker's time goes (one more pass each, apart from the timed ones above)
        timelines = {str(workers): by_video_timeline(datasets["by_video"], workers) for workers in (1, 2)}
    floor_s = _median([f[0] for f in floors])

    def figures(measured: list[tuple[float, float]], count: int = windows) -> dict:
        """Medians over the rounds, each round's run against that round's floor."""
        per_round = [{"seconds": seconds, "cpu_seconds": cpu_seconds, "windows_per_second": count / seconds,
                      "of_floor": (count / seconds) / (windows / round_s), "cores_used": cpu_seconds / seconds,
                      "per_core_of_floor": (count / cpu_seconds) / (windows / round_cpu)}
                     for (seconds, cpu_seconds), (round_s, round_cpu) in zip(measured, floors)]
        return dict({key: _median([r[key] for r in per_round]) for key in per_round[0]}, runs=per_round)

    extraction = {workers: figures(measured, extract_windows) for (kind, workers), measured in runs.items()
                  if kind == "extraction"}
    training: dict = {}
    validation: dict = {}
    for (order, workers), measured in runs.items():
        if order != "extraction":
            (validation if order in evaluation else training).setdefault(order, {})[workers] = figures(measured)
    for by_workers in (*training.values(), *validation.values(), extraction):
        by_workers["scaling_2_over_1_workers"] = by_workers["1"]["seconds"] / by_workers["2"]["seconds"]
    results = {
        "machine": {"cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)), "python": sys.version.split()[0]},
        "clips": args.clips, "size": args.size, "seconds": args.seconds, "frames": frames, "windows": windows,
        "repeats": args.repeats,
        "floor": dict(figures(floors), frames_per_second=frames / floor_s),
        # each of the 2 processes decodes every clip: twice the windows
        "floor_2_processes": {"seconds": floor2_s, "windows_per_second": 2 * windows / floor2_s,
                              "scaling": 2 * floor1_s / floor2_s, "cpu_seconds": floor2_cpu,
                              "cores_used": floor2_cpu / floor2_s, "per_core_of_floor": 2 * floor1_cpu / floor2_cpu,
                              "one_process_seconds": floor1_s},
        "by_video_2_independent_processes_scaling": by_video_scaling,
        "training": training,
        "by_video_worker_timeline": timelines,
        "validation": validation,
        "extraction": dict(extraction, frames_decoded=extract_decoded),
    }

    def row(label: str, value: dict) -> tuple:
        return (label, f"{value['windows_per_second']:.1f}", f"{value['of_floor']:.2f}", f"{value['cores_used']:.2f}",
                f"{value['per_core_of_floor']:.2f}")

    two = results["floor_2_processes"]
    rows = [row(f"floor: PyAV, every frame, 1 thread ({frames / floor_s:.0f} frames/s)", results["floor"]),
            (f"floor in 2 processes: {two['scaling']:.2f}x one (this machine's scaling)",
             f"{two['windows_per_second']:.1f}", f"{two['scaling']:.2f}", f"{two['cores_used']:.2f}",
             f"{two['per_core_of_floor']:.2f}")]

    def loader_rows(kind: str, label: str, by_workers: dict) -> None:
        for workers in ("0", "1", "2"):
            where = "in-process" if workers == "0" else f"{workers} DataLoader worker(s)"
            rows.append(row(f"{kind}, {label}, {where}", by_workers[workers]))
        rows.append((f"{kind}, {label}: 2 workers / 1 = {by_workers['scaling_2_over_1_workers']:.2f}x", "", "", "", ""))

    for order, by_workers in training.items():
        loader_rows("training", f"{order} order", by_workers)
    rows.append((f"by_video in 2 independent processes, no DataLoader: {by_video_scaling:.2f}x one", "", "", "", ""))
    for workers, timeline in timelines.items():
        for worker, t in timeline.items():
            rows.append((f"by_video, {workers} worker(s), worker {worker} of its {t['span_s']:.2f} s: "
                         f"{t['reading_s'] / t['span_s']:.0%} reading, {t['between_batches_s'] / t['span_s']:.0%} "
                         f"between batches ({t['between_batches_median_ms']:.0f} / {t['between_batches_max_ms']:.0f} ms "
                         f"median / max), done {t['done_before_end_s']:.2f} s before the end", "", "", "", ""))
    names = {"in_order": "dataset order, window by window (before)", "runs": "a run of windows per worker"}
    for order, by_workers in validation.items():
        loader_rows("validation", names[order], by_workers)
    for workers in ("0", "1", "2"):
        label = "in-process (a decoding thread)" if workers == "0" else f"{workers} DataLoader worker(s)"
        rows.append(row(f"extraction (each clip front to back once), {label}", extraction[workers]))
    rows.append((f"extraction: 2 workers / 1 = {extraction['scaling_2_over_1_workers']:.2f}x", "", "", "", ""))
    print_table(f"decoding ({args.clips} clips, {args.size} px, {frames} frames, {windows} windows; medians of "
                f"{args.repeats})", ("", "windows/s", "of floor", "cores used", "per core, of floor's"), rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
