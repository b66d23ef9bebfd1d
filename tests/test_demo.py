"""The README's demo, run as a user runs it: a fresh data folder, the real entry point."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_trains_to_f1_090_in_under_five_minutes(tmp_path):
    # the README's command word for word, in a fresh folder: data/demo (clips and captions) and runs/demo land there
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "lightning_app", "fit", "--config", "demo.yaml"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    assert elapsed < 300, f"demo took {elapsed:.0f} s"

    clips = sorted((tmp_path / "data" / "demo" / "clips").glob("*.mp4"))
    assert len(clips) == 40 and (tmp_path / "data" / "demo" / "captions.csv").is_file()
    with av.open(str(clips[0])) as container:
        assert container.streams.video[0].codec_context.name == "h264"

    summaries = list((tmp_path / "runs" / "demo").rglob("summary.json"))
    assert len(summaries) == 1
    summary = json.loads(summaries[0].read_text())
    print(f"demo: {elapsed:.1f} s, summary {summary}")
    assert summary["stage"] == "fit" and summary["val/f1"] >= 0.90
    assert "val/f1" in result.stdout  # the printed table
