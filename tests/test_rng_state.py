import io
import random

import numpy as np
import torch

from callbacks.rng_state import RngStateCheckpoint, capture, gather, restore


def _draw():
    return random.random(), float(np.random.rand()), float(np.random.randn()), torch.rand(2).tolist()


def test_state_survives_a_weights_only_checkpoint_round_trip():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # a cached gaussian is part of numpy's state
    buffer = io.BytesIO()
    torch.save({"rng_states": gather(capture(), world_size=1)}, buffer)
    expected = _draw()
    buffer.seek(0)
    restore(torch.load(buffer, weights_only=True)["rng_states"][0])
    assert _draw() == expected


class _Trainer:
    world_size, global_rank = 1, 0


def test_callback_restores_at_the_first_epoch_start_only():
    callback = RngStateCheckpoint()
    checkpoint: dict = {}
    torch.manual_seed(5)
    callback.on_save_checkpoint(_Trainer(), None, checkpoint)
    expected = torch.rand(3)
    callback.on_load_checkpoint(_Trainer(), None, checkpoint)
    torch.rand(10)  # e.g. a sanity check between loading and training
    callback.on_train_epoch_start(_Trainer(), None)
    assert torch.equal(torch.rand(3), expected)
    after = torch.get_rng_state()
    callback.on_train_epoch_start(_Trainer(), None)  # later epochs run on
    assert torch.equal(torch.get_rng_state(), after)


def test_a_different_world_size_restores_nothing(recwarn):
    callback = RngStateCheckpoint()
    checkpoint = {"rng_states": [capture(), capture()]}
    callback.on_load_checkpoint(_Trainer(), None, checkpoint)
    state = torch.get_rng_state()
    callback.on_train_epoch_start(_Trainer(), None)
    assert torch.equal(torch.get_rng_state(), state)
    assert any("2 process(es)" in str(w.message) for w in recwarn)
