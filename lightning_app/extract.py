"""``python -m lightning_app extract --config dvd.yaml [--data.cache_dir DIR] [any trainer flag]``:
run the frozen encoders (and the captioner) once over every window of every video of the
dataset and write the feature cache (``datamodules/feature_cache.py``).

* Videos already in the cache for the current key are skipped, so an interrupted run resumes.
* Each video is decoded front to back once; its file is written to a temporary name and renamed.
  ``--data.num_workers`` DataLoader workers decode videos in parallel (each taking the next
  video no worker has taken) while the encoders run; with 0, one background thread decodes
  ahead of them. The summary's ``wait_for_frames`` is how long the encoders sat idle waiting
  for decoded frames: near zero, decoding keeps up; a large share of the run, more workers
  would help.
* The encoders take up to ``--data.batch_size`` windows at a time, across the end of one
  video and the start of the next. On a GPU a larger batch than training's keeps it busier
  (the captioner generates token by token, and a step costs about as much for 32 windows as
  for 8): ``--data.batch_size 32``.
* With several devices (``--trainer.devices 4``, ``--trainer.strategy ddp``), or under
  ``torchrun`` / SLURM with ``--trainer.num_nodes N``, each rank takes a disjoint share of the
  videos (dealt by file size, so the shares take about equally long) and together they cover all.
* Independent jobs may share one cache (``--data.cache_dir``): SLURM array tasks, or two users.
  Each claims a video before encoding it (``datamodules/cache_claims.py``) and skips those
  another job holds, so together they encode each video once. A single-process job then waits
  for the videos other jobs hold, and encodes those whose job died (its claim went stale);
  the summary's ``by_other_jobs`` counts the videos other jobs wrote meanwhile.
* A video that cannot be read is recorded in ``errors.json`` in the cache folder with the
  reason; the others go on, and the command ends with status 1 and a summary.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from callbacks.feature_writer import RANK_REPORT, FeatureCacheWriter
from datamodules.cache_claims import VideoClaims
from datamodules.extraction_data import VideoChunkLoader, VideoChunkStream, VideoJob
from datamodules.video_io import frame_count
from lightning_app.errors import ConfigError
from lightning_app.preflight import check_cache_folder
from lightning_app.terminal import print_table
from models.extraction_module import FeatureExtractionModule

# windows per chunk a decoding worker hands over (a chunk holds its windows' distinct frames)
CHUNK_WINDOWS = 8
# how often a job waiting for videos that other jobs hold looks again
WAIT_POLL_S = 1.0


def _merge_reports(cache, job: str) -> dict[str, Any]:
    seconds = {"decode": 0.0, "encode": 0.0, "write": 0.0, "wait_for_frames": 0.0}
    merged = {"done": [], "errors": [], "seconds": seconds, "windows": 0, "frames_decoded": 0, "image_frames_encoded": 0,
              "captions_encoded": 0, "done_by_rank": {}}
    for path in sorted(cache.directory.glob(RANK_REPORT.format(job=job, rank="*"))):
        report = json.loads(path.read_text())
        merged["done_by_rank"][path.name.split(".")[2]] = report["done"]
        merged["done"] += report["done"]
        merged["errors"] += report["errors"]
        merged["windows"] += report["windows"]
        for key in ("frames_decoded", "image_frames_encoded", "captions_encoded"):
            merged[key] += report.get(key, 0)
        for key, value in report["seconds"].items():
            merged["seconds"][key] += value
        path.unlink()
    return merged


def _extract(cli, jobs: list[VideoJob], writer: FeatureCacheWriter) -> None:
    """One pass of the encoders over ``jobs`` (those another job claimed are skipped)."""
    datamodule, trainer = cli.datamodule, cli.trainer
    # an item holds up to --data.batch_size windows: chunks of up to CHUNK_WINDOWS windows each, across video ends
    per_chunk = min(CHUNK_WINDOWS, datamodule.batch_size)
    per_item = max(1, datamodule.batch_size // per_chunk)
    chunks = VideoChunkStream(jobs, datamodule.spec, windows_per_chunk=per_chunk, chunks_per_item=per_item,
                              decode_ahead=max(2, per_item), claims=writer.claims, written=writer.cache.is_valid)
    loader = VideoChunkLoader(chunks, num_workers=datamodule.num_workers)
    with warnings.catch_warnings():  # one pass over the videos (VideoChunkLoader refuses persistent workers)
        warnings.filterwarnings("ignore", message=r".*persistent_workers=True.*predict_dataloader.*")
        trainer.predict(FeatureExtractionModule(cli.model.extractor), dataloaders=loader, return_predictions=False)
    # every rank's videos are written before rank 0 reads the cache (a no-op outside a process group: ddp_spawn's main)
    trainer.strategy.barrier()


def _wait_for_others(cache, claims: VideoClaims, names: dict[str, Any], failed: set[str]) -> list[VideoJob]:
    """Wait while other extract jobs hold videos this cache still lacks; return those whose
    claims went stale (their job died), for this job to encode."""
    announced = False
    while True:
        missing = [name for name, path in sorted(names.items()) if name not in failed and not cache.is_valid(name, path)]
        held = [name for name in missing if claims.held_elsewhere(name)]
        if len(held) < len(missing) or not held:
            return [VideoJob(name, names[name]) for name in missing if name not in held]
        if not announced:
            print(f"waiting for {len(held)} videos that another extract job on this cache is encoding "
                  f"(claims in {claims.directory})", file=sys.stderr)
            announced = True
        time.sleep(WAIT_POLL_S)


def run_extract(args: Sequence[str]) -> dict[str, Any]:
    from lightning_app.cli import cli_main

    cli = cli_main(list(args), run=False)
    datamodule, trainer = cli.datamodule, cli.trainer
    cache = datamodule.feature_cache()
    if cache is None:
        raise ConfigError("extract needs --data.cache_dir: the folder to write the feature cache to")
    if trainer.global_rank == 0:
        datamodule.prepare_data()  # e.g. the demo writes its clips on first use
    names = {}
    for record in datamodule.records():
        names.setdefault(datamodule.cache_name(record), record.path)
    if trainer.global_rank == 0:
        cache.prepare()
    trainer.strategy.barrier()  # the cache folder exists before any rank reads it (torchrun, SLURM)
    todo = [VideoJob(name, path) for name, path in sorted(names.items()) if not cache.is_valid(name, path)]
    if todo and cli.model.extractor is None:
        raise ConfigError("the model holds no encoders to extract with")
    if trainer.global_rank == 0 and todo:  # room for what is left to write, before hours of encoding
        frames = [frame_count(job.path) for job in todo]
        windows = sum(len(datamodule.spec.starts(n)) for n in frames if n > 0)
        check_cache_folder(cache.directory, windows, cli.model.extractor.dims, datamodule.spec.per_stream)
    skipped = len(names) - len(todo)
    report: dict[str, Any] = {"done": [], "errors": [], "seconds": {}, "windows": 0, "frames_decoded": 0,
                              "image_frames_encoded": 0, "captions_encoded": 0}
    claims = VideoClaims(cache.directory)
    writer = FeatureCacheWriter(cache, job=f"{os.getpid()}-{uuid.uuid4().hex[:8]}", claims=claims)
    if todo:
        trainer.callbacks.append(writer)
        _extract(cli, todo, writer)
        # One job (one process, or one run of ranks) waits for the videos other jobs on this cache
        # hold, and takes over those whose job died; a multi-rank job leaves them to a rerun.
        while trainer.world_size == 1 and not trainer.interrupted:
            last, todo = todo, _wait_for_others(cache, claims, names, {e["video"] for e in writer.report["errors"]})
            if not todo or todo == last:  # done, or no progress since the last pass
                break
            _extract(cli, todo, writer)
    if trainer.global_rank != 0:
        return {"rank": trainer.global_rank}
    if writer in trainer.callbacks:
        report = _merge_reports(cache, writer.job)
    return _finish(cache, claims, names, report, skipped)


def _finish(cache, claims: VideoClaims, names: dict[str, Path], report: dict[str, Any], skipped: int) -> dict[str, Any]:
    """Rank 0, at the end: the errors file, the complete mark when every video is in the cache,
    and the summary, printed and returned."""
    missing = sorted(name for name, path in names.items() if not cache.is_valid(name, path))
    held = [name for name in missing if claims.held_elsewhere(name)]
    failed = {e["video"] for e in report["errors"]}
    errors = report["errors"] + [{"video": name, "reason": "not written (the run was interrupted?)"}
                                 for name in missing if name not in failed and name not in held]
    if not held:  # errors.json and complete.json are for the job that finishes the cache
        cache.write_errors(errors)
    if not missing:
        cache.mark_complete(sorted(names))
    summary = {"cache": str(cache.directory), "videos": len(names), "skipped": skipped,
               "extracted": len(report["done"]), "by_other_jobs": len(names) - skipped - len(report["done"]) - len(missing),
               "failed": len(errors), "windows": report["windows"], "frames_decoded": report["frames_decoded"],
               # the per-frame encoders' work: each distinct frame once (about 8 and 2 a window at stride 32)
               "image_frames_encoded": report["image_frames_encoded"], "captions_encoded": report["captions_encoded"],
               "seconds": report["seconds"], "complete": not missing}
    rows = [(k, str(v) if not isinstance(v, dict) else ", ".join(f"{a} {b:.2f}s" for a, b in v.items()))
            for k, v in summary.items()]
    print_table("extract", ("", "value"), rows)
    for error in errors:
        print(f"failed: {error['video']}: {error['reason']}", file=sys.stderr)
    if held:
        print(f"{len(held)} videos are still being encoded by another extract job on this cache; "
              "run extract again once it ends to complete the cache", file=sys.stderr)
    summary["errors"] = errors
    summary["done_by_rank"] = report.get("done_by_rank", {})
    return summary


def extract_main(args: Sequence[str]) -> int:
    summary = run_extract(args)
    return 1 if summary.get("failed") else 0
