"""Frame-level evaluation: each annotated frame gets the mean prediction of the windows covering it."""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


class FramePredictionAggregator(Metric):
    """Collects window predictions per covered frame and averages them per (video, frame).

    ``update`` takes, per window, its video index, first frame, prediction (C,), and the
    frame targets (window, C) with their validity mask (window,); only valid frames are kept.
    ``compute`` returns (predictions (F, C), targets (F, C)) over the F distinct frames.
    States are concatenated across DDP ranks, so a frame seen on two ranks (or twice through
    a padded sampler) is still averaged once per window prediction.
    """

    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name in ("video", "frame", "pred", "target"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, video_index: torch.Tensor, start: torch.Tensor, preds: torch.Tensor,
               frame_target: torch.Tensor, frame_mask: torch.Tensor) -> None:
        window = frame_mask.shape[1]
        mask = frame_mask.bool()
        frames = start.view(-1, 1) + torch.arange(window, device=start.device)
        self.video.append(video_index.view(-1, 1).expand(-1, window)[mask].long())
        self.frame.append(frames[mask].long())
        self.pred.append(preds.unsqueeze(1).expand(-1, window, -1)[mask].float())
        self.target.append(frame_target[mask].float())

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.pred:
            return torch.zeros(0, 1), torch.zeros(0, 1)
        video, frame = dim_zero_cat(self.video), dim_zero_cat(self.frame)
        pred, target = dim_zero_cat(self.pred), dim_zero_cat(self.target)
        key = video * (int(frame.max()) + 1) + frame
        unique, inverse = torch.unique(key, return_inverse=True)
        sums = torch.zeros(len(unique), pred.shape[1], device=pred.device).index_add_(0, inverse, pred)
        counts = torch.zeros(len(unique), device=pred.device).index_add_(0, inverse, torch.ones_like(inverse, dtype=torch.float))
        targets = torch.zeros(len(unique), target.shape[1], device=target.device).index_copy_(0, inverse, target)
        return sums / counts.unsqueeze(1), targets
