"""Random-number state in checkpoints, so that a resumed fit continues as if never stopped.

Lightning restores weights, optimiser, loops and callback states, but not the random generators: a fit resumed from
``last.ckpt`` would shuffle its next epoch and draw its augmentation noise differently from the interrupted run.
This callback stores every rank's generator states (python, numpy, torch CPU and, where present, CUDA) with each
checkpoint and puts them back at the start of the first training epoch after a restore.

It restores at ``on_train_epoch_start``, not on load: in between, the resumed run does work the uninterrupted run
did not (the sanity-check validation, which draws a DataLoader seed), and that must not shift the generators. The
state saved at the end of epoch k's validation is exactly the state epoch k + 1 starts from, since nothing in
between draws random numbers.

Under DDP each rank's state is gathered into the checkpoint and every rank gets its own back; a run resumed on a
different number of ranks restores none (with a warning) and stays correct, only not bit-identical.
"""

from __future__ import annotations

import random
from typing import Any, Optional

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn


def capture() -> dict[str, Any]:
    """This process's generator states, as tensors and ints only: checkpoints load with ``weights_only=True``,
    which refuses numpy arrays and arbitrary tuples."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict[str, Any]) -> None:
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"].tolist()), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def gather(state: dict[str, Any], world_size: int) -> list[dict[str, Any]]:
    """Every rank's state, in rank order (a collective: all ranks call it)."""
    if world_size == 1 or not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return [state]
    states: list[Any] = [None] * world_size
    torch.distributed.all_gather_object(states, state)
    return states


class RngStateCheckpoint(Callback):
    """Saves each rank's random state with every checkpoint; restores it when training resumes."""

    def __init__(self) -> None:
        self._pending: Optional[dict[str, Any]] = None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        # every rank builds the checkpoint dict, rank 0 writes it: gather all ranks' states first
        checkpoint["rng_states"] = gather(capture(), trainer.world_size)

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        states = checkpoint.get("rng_states")
        if not states:
            return
        if len(states) != trainer.world_size:
            rank_zero_warn(
                f"the checkpoint holds random states of {len(states)} process(es), this run has {trainer.world_size}: "
                "they are not restored, so the resumed run is not bit-identical to an uninterrupted one"
            )
            return
        self._pending = states[trainer.global_rank]

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._pending is not None:
            restore(self._pending)
            self._pending = None
