"""What a dataset layout hands the datamodule: one record per annotated video (or face track)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from datamodules.labels import FrameTargets


@dataclass(frozen=True)
class VideoRecord:
    """One labelled stream of frames.

    Args:
        video_id: unique name (the annotation's name for Aff-Wild2, the manifest path for DVD).
        path: the video file.
        load_targets: given the video's frame count, its ``FrameTargets``; raises
            ``DataError`` (naming the file) when labels and video do not fit together.
        group: records of one group never straddle two folds (the ``_left`` / ``_right``
            faces of one Aff-Wild2 video); defaults to the video path.
        fold: a fold fixed by the dataset (manifest column), or None to assign one.
        split: ``train`` / ``val`` / ``test`` from the dataset's official split, or "".
        stratum: a class to balance folds on (the video's label), or None.
    """

    video_id: str
    path: Path
    load_targets: Callable[[int], FrameTargets]
    group: str = ""
    fold: Optional[int] = None
    split: str = ""
    stratum: Optional[int] = None

    @property
    def group_key(self) -> str:
        return self.group or str(self.path)
