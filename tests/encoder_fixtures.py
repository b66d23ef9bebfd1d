"""Fixtures shared by the encoder test modules (imported there by name)."""

import socket

import huggingface_hub
import pytest
import torch


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
