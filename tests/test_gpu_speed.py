"""benchmarks/gpu_speed.py and the random real-architecture encoders it times, checked on a CPU
with small sizes (``--small``) so that the script keeps working between GPU runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.gpu_speed import CAPTION_TOKENS, encoder_specs
from models.feature_extractor import FrozenFeatureExtractor

REPO = Path(__file__).resolve().parent.parent


def test_saved_random_encoders_load_through_the_registry_and_caption_at_full_length(tmp_path):
    specs = encoder_specs(tmp_path, small=True)
    assert {spec["name"] for spec in specs.values()} == {"videoprism", "open_clip", "blip"}
    assert all(Path(spec["pretrained"]).is_dir() for spec in specs.values())  # offline, from the folder
    extractor = FrozenFeatureExtractor(specs["video"], specs["clip"], specs["captioner"])
    frames = torch.randint(0, 256, (2, 4, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    features, captions = extractor(frames, frames, frames[:, :2])
    assert features["video"].shape == (2, 4, 32) and features["text"].shape == (2, 2, 32)
    assert all(len(caption.split()) == CAPTION_TOKENS for window in captions for caption in window)


@pytest.mark.slow
def test_the_script_runs_every_part_and_writes_its_json(tmp_path):
    out = tmp_path / "gpu_speed.json"
    run = subprocess.run(
        [sys.executable, "benchmarks/gpu_speed.py", "--small", "--clips", "3", "--clip-size", "32", "--seconds", "3",
         "--encoder-batches", "2", "--repeats", "1", "--workers", "0", "--extract-batch-sizes", "8",
         "--epochs", "2", "--train-batch-sizes", "8", "--profile", "--out", str(out)],
        capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())
    encoders = results["encoders"]["2"]
    assert encoders.keys() == {"float32", "bfloat16"}
    assert all(part["windows_per_second"] > 0 for by_part in encoders.values() for part in by_part.values())
    extraction = results["extraction"]
    assert [(r["workers"], r["batch_size"]) for r in extraction] == [(0, 8)]
    windows = extraction[0]["windows"]
    assert windows > 0 and all(r["windows"] == windows and r["videos"] == 3 for r in extraction)
    assert all(r["wait_for_frames_seconds"] <= r["loop_seconds"] for r in extraction)
    training = results["training"]
    assert [(r["precision"], r["batch_size"]) for r in training] == [("32-true", 8), ("bf16-mixed", 8)]
    assert all(r["step_ms_median"] > 0 and len(r["epochs"]) == 2 for r in training)
    assert results["training_profile"][0] == "FIT Profiler Report"
