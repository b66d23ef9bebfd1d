"""Moving a batch to the model's device by a direct walk over it.

Lightning's default ``transfer_batch_to_device`` (``apply_to_collection``) asks of every leaf, each string of
``video_id`` and ``video_path`` included, whether it is a dataclass or a transferable type, which shows in the step
time of a small model on a CPU. This framework's batches are plain dicts, lists and tuples of tensors and strings:
``move_batch`` walks those itself and hands anything else to Lightning's ``move_data_to_device``, so a custom batch
type still moves as Lightning would move it.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device

# as Lightning does: a copy to these devices is synchronous, so ``non_blocking`` is not asked for
BLOCKING_DEVICE_TYPES = ("cpu", "mps")
_LEAVES = (str, bytes, int, float, bool, type(None))


def move_batch(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor in it on ``device``: dicts, lists and plain tuples rebuilt, strings and numbers
    kept, any other object through ``move_data_to_device``."""
    device = torch.device(device)
    non_blocking = device.type not in BLOCKING_DEVICE_TYPES

    def move(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            # ``to`` returns a tensor already there as it is, but asking costs a dispatch
            return value if value.device == device else value.to(device, non_blocking=non_blocking)
        if isinstance(value, _LEAVES):
            return value
        if type(value) is dict:
            return {key: move(item) for key, item in value.items()}
        if type(value) in (list, tuple):
            return type(value)(move(item) for item in value)
        return move_data_to_device(value, device)  # namedtuples, dataclasses, objects with .to()

    return move(batch)
