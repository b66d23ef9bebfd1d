"""Claims on videos that let independent extract jobs share one cache."""

import json
import multiprocessing
import os
import time

from datamodules.cache_claims import VideoClaims


def _claim_file(claims: VideoClaims, video: str, **owner) -> None:
    claims.directory.mkdir(parents=True, exist_ok=True)
    claims.path(video).write_text(json.dumps({"video": video, **owner}))


def test_a_live_claim_is_kept_and_a_released_one_can_be_taken(tmp_path):
    ours, theirs = VideoClaims(tmp_path), VideoClaims(tmp_path)
    theirs.owner = {"host": "node-7", "pid": 1234}
    assert ours.take("clips/a.mp4") and not theirs.take("clips/a.mp4")
    assert theirs.held_elsewhere("clips/a.mp4") and not ours.held_elsewhere("clips/a.mp4")
    ours.release("clips/a.mp4")
    assert theirs.take("clips/a.mp4") and ours.held_elsewhere("clips/a.mp4")


def test_a_claim_of_a_dead_local_process_is_stale_at_once(tmp_path):
    claims = VideoClaims(tmp_path)
    process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    process.start()
    process.join()
    _claim_file(claims, "a.mp4", host=claims.owner["host"], pid=process.pid)  # a job killed on this machine
    assert not claims.held_elsewhere("a.mp4") and claims.take("a.mp4")
    assert json.loads(claims.path("a.mp4").read_text())["pid"] == os.getpid()


def test_a_remote_claim_is_stale_only_once_untouched_for_the_timeout(tmp_path):
    claims = VideoClaims(tmp_path, stale_after_s=60)
    _claim_file(claims, "a.mp4", host="node-7", pid=1)
    assert not claims.take("a.mp4")  # fresh: its job may be running on node-7
    old = time.time() - 61
    os.utime(claims.path("a.mp4"), (old, old))
    assert claims.take("a.mp4")
    claims.refresh("a.mp4")
    assert time.time() - claims.path("a.mp4").stat().st_mtime < 5


def _take(directory, video, results, done):
    claims = VideoClaims(directory, stale_after_s=60)
    results.put(claims.take(video))
    done.wait(60)  # alive until all have tried, as an owner is while it encodes


def test_one_process_of_many_takes_a_stale_claim(tmp_path):
    claims = VideoClaims(tmp_path, stale_after_s=60)
    _claim_file(claims, "a.mp4", host="node-7", pid=1)
    old = time.time() - 120
    os.utime(claims.path("a.mp4"), (old, old))
    context = multiprocessing.get_context("fork")
    results, done = context.Queue(), context.Event()
    processes = [context.Process(target=_take, args=(tmp_path, "a.mp4", results, done)) for _ in range(6)]
    for process in processes:
        process.start()
    taken = sorted(results.get(timeout=60) for _ in processes)
    done.set()
    for process in processes:
        process.join()
    assert taken == [False] * 5 + [True]
