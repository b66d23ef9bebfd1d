"""Fixtures shared by the encoder test modules (imported there by name)."""

import socket

import huggingface_hub
import pytest
import torch
from transformers import VideoMAEVideoProcessor, VJEPA2VideoProcessor

from models.encoders.preprocess import IMAGENET_MEAN, IMAGENET_STD


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy two-core machine OpenMP threads
    that wait on each other make them a hundred times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def frames(*shape, seed=0):
    return torch.randint(0, 256, (*shape, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def refuse_sockets(monkeypatch) -> list:
    """Make every socket connection fail; returns the list the attempts are recorded in."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """An empty Hugging Face cache, offline mode, and sockets that record and refuse every connection."""
    attempts = refuse_sockets(monkeypatch)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return attempts


def tiny_video_processor(name: str):
    """The Hugging Face processor a tiny video encoder's preprocessing matches (what a saved
    checkpoint would carry beside its weights), or None for encoders that have none."""
    if name == "videomae-tiny":
        return VideoMAEVideoProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                      image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD))
    if name == "vjepa2-tiny":
        return VJEPA2VideoProcessor(size={"shortest_edge": int(32 * 256 / 224)}, crop_size={"height": 32, "width": 32})
    return None
