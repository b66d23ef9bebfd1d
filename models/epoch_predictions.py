"""All window predictions of an epoch, gathered across DDP ranks, each window counted once.

Under DDP, Lightning's DistributedSampler pads the last batches with repeated windows so every rank runs the same
number of steps. ``EpochPredictions`` keeps each window's identity (video index, first frame) next to its prediction
and drops the repeats before anything is scored, so an epoch's F1 or CCC is the one computed on all predictions in
one process. Under DDP call ``compute()`` (which gathers the ranks' states first), not ``windows()`` directly.

Window-level scores leave out the windows marked not ``scored`` (an end window that nearly repeats the one before
it, ``datamodules.windows.near_duplicate_end``); frame-level scores average every window covering a frame.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


STATES = ("video", "start", "output", "pred", "target", "frame_target", "frame_mask", "scored")


class EpochPredictions(Metric):
    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name in STATES:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, video_index: torch.Tensor, start: torch.Tensor, outputs: torch.Tensor, preds: torch.Tensor,
               target: torch.Tensor, frame_target: torch.Tensor, frame_mask: torch.Tensor,
               scored: torch.Tensor | None = None) -> None:
        """Per window: video index, first frame, raw model output (C,), prediction (C,), target (C,), the frame
        targets (window, C) with their validity mask (window,), and whether window-level scores count it (default:
        all do)."""
        self.video.append(video_index.long().view(-1))
        self.start.append(start.long().view(-1))
        self.output.append(outputs.float())
        self.pred.append(preds.float())
        self.target.append(target.float())
        self.frame_target.append(frame_target.float())
        self.frame_mask.append(frame_mask.bool())
        self.scored.append(torch.ones_like(self.video[-1], dtype=torch.bool) if scored is None
                           else scored.bool().view(-1).to(self.video[-1].device))

    def _empty(self) -> bool:
        # a list of batches before synchronisation, one concatenated tensor after
        return isinstance(self.pred, list) and not self.pred

    def _unique_windows(self) -> dict[str, torch.Tensor]:
        video, start = dim_zero_cat(self.video), dim_zero_cat(self.start)
        key = video * (int(start.max()) + 1) + start
        _, inverse = torch.unique(key, return_inverse=True)
        first = torch.full((int(inverse.max()) + 1,), len(key), dtype=torch.long, device=key.device)
        first = first.scatter_reduce(0, inverse, torch.arange(len(key), device=key.device), reduce="amin")
        return {name: dim_zero_cat(getattr(self, name))[first] for name in STATES}

    def compute(self) -> dict[str, tuple[torch.Tensor, ...]]:
        """``{"windows": (outputs, preds, targets), "frames": (preds, targets), "frame_ids": (video index, frame)}``,
        gathered from all ranks (torchmetrics synchronises the states before calling this)."""
        preds, targets, video, frame = self._frames()
        return {"windows": self.windows(), "frames": (preds, targets), "frame_ids": (video, frame)}

    @staticmethod
    def unsqueezed(gathered: dict[str, tuple[torch.Tensor, ...]], num_outputs: int) -> dict[str, tuple]:
        """``compute()``'s result with its shapes back: torchmetrics squeezes every one-element tensor a metric's
        ``compute`` returns, so an epoch of one window (or one frame) would lose its (W, C) shape."""
        windows = tuple(x.reshape(-1, num_outputs) for x in gathered["windows"])
        frames = tuple(x.reshape(-1, num_outputs) for x in gathered["frames"])
        return {"windows": windows, "frames": frames, "frame_ids": tuple(x.reshape(-1) for x in gathered["frame_ids"])}

    def windows(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(outputs, predictions, targets), each (W, C), over the distinct scored windows of the epoch."""
        if self._empty():
            return torch.zeros(0, 1), torch.zeros(0, 1), torch.zeros(0, 1)
        unique = self._unique_windows()
        scored = unique["scored"]
        return unique["output"][scored], unique["pred"][scored], unique["target"][scored]

    def _frames(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(predictions (F, C), targets (F, C), video index (F,), frame (F,)) over the distinct valid frames: each
        frame gets the mean prediction of the distinct windows covering it."""
        if self._empty():
            return (torch.zeros(0, 1), torch.zeros(0, 1), torch.zeros(0, dtype=torch.long),
                    torch.zeros(0, dtype=torch.long))
        unique = self._unique_windows()
        mask, length = unique["frame_mask"], unique["frame_mask"].shape[1]
        frames = unique["start"].view(-1, 1) + torch.arange(length, device=mask.device)
        video = unique["video"].view(-1, 1).expand(-1, length)[mask]
        frame = frames[mask]
        pred = unique["pred"].unsqueeze(1).expand(-1, length, -1)[mask]
        target = unique["frame_target"][mask]
        key = video * (int(frame.max()) + 1) + frame
        keys, inverse = torch.unique(key, return_inverse=True)
        sums = torch.zeros(len(keys), pred.shape[1], device=pred.device).index_add_(0, inverse, pred)
        counts = torch.zeros(len(keys), device=pred.device).index_add_(0, inverse,
                                                                      torch.ones_like(inverse, dtype=torch.float))
        targets = torch.zeros(len(keys), target.shape[1], device=target.device).index_copy_(0, inverse, target)
        size = int(frame.max()) + 1
        return sums / counts.unsqueeze(1), targets, keys // size, keys % size
