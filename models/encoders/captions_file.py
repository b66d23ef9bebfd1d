"""Captions written elsewhere (MiniGPT-4, a person, any tool): a captioner that reads a file.

The paper captions with MiniGPT-4, which transformers does not ship: run it (or anything else) separately and give
the captions as a file, which this source hands to the CLIP text tower in place of a captioning model:

* CSV with a header ``video,frame,caption`` (one row per captioned frame), or
* JSON ``{"clips/a.mp4": {"0": "a man runs", "16": "..."}, ...}`` (video -> frame -> caption).

``video`` is the video's path relative to the dataset root (as in the DVD manifest; any trailing part of the
video's path works), its file name, or its name without extension; ``frame`` is the 0-based frame index. A frame
that was not captioned gets the caption of the nearest captioned frame of the same video (ties go to the earlier),
so captioning every 8th or 16th frame is enough. A video with no captions at all is an error naming the file and
the video.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from lightning_app.errors import ConfigError, DataError
from models.encoders.registry import register

CSV_COLUMNS = ("video", "frame", "caption")


def parse_captions_csv(text: str, source: str) -> dict[str, dict[int, str]]:
    """``video,frame,caption`` rows -> {video: {frame: caption}}; errors name ``source`` and the line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"{source}: a captions CSV needs the columns {', '.join(CSV_COLUMNS)}; "
                          f"missing {', '.join(missing)}")
    table: dict[str, dict[int, str]] = {}
    for line, row in enumerate(reader, start=2):
        table.setdefault(row["video"], {})[_frame(row["frame"], source, f"line {line}")] = row["caption"] or ""
    return table


def parse_captions_json(text: str, source: str) -> dict[str, dict[int, str]]:
    """``{video: {frame: caption}}`` -> the same with int frames; errors name ``source`` and the video."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{source}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected an object mapping each video to {{frame: caption}}")
    table: dict[str, dict[int, str]] = {}
    for video, frames in data.items():
        if not isinstance(frames, dict):
            raise ConfigError(f"{source}: video {video!r} must map frame numbers to captions")
        table[video] = {_frame(f, source, f"video {video!r}"): str(c) for f, c in frames.items()}
    return table


def _frame(value, source: str, where: str) -> int:
    try:
        frame = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}, {where}: frame {value!r} is not a whole number") from None
    if frame < 0:
        raise ConfigError(f"{source}, {where}: frame {frame} is negative")
    return frame


def read_captions(path: Path) -> dict[str, dict[int, str]]:
    if not path.is_file():
        raise ConfigError(f"model.captioner.path: captions file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return parse_captions_json(text, str(path))
    return parse_captions_csv(text, str(path))


def nearest_caption(frames: dict[int, str], ordered: list[int], frame: int) -> str:
    """The caption at ``frame``, or at the nearest captioned frame (the earlier one on a tie)."""
    position = bisect.bisect_left(ordered, frame)
    if position < len(ordered) and ordered[position] == frame:
        return frames[frame]
    candidates = [ordered[i] for i in (position - 1, position) if 0 <= i < len(ordered)]
    return frames[min(candidates, key=lambda f: (abs(f - frame), f))]


class CaptionsFile(nn.Module):
    """Looks captions up by video and frame (``lookup``); it has no weights and takes no frames."""

    reads_captions_by_frame = True

    def __init__(self, source: Path):
        """Reads ``source`` now if it exists, else at the first lookup: a dataset that writes its captions with
        its videos (the demo's) writes them after the model is built, before the first batch."""
        super().__init__()
        self.source = source
        self._table: dict[str, dict[int, str]] | None = None
        if source.exists():
            self._load()

    @property
    def table(self) -> dict[str, dict[int, str]]:
        if self._table is None:
            self._load()
        return self._table

    def _load(self) -> None:
        table = read_captions(self.source)
        self.ordered = {video: sorted(frames) for video, frames in table.items()}
        # also findable by file name and by stem, where that names one video only
        self.aliases: dict[str, str] = {}
        counts: dict[str, int] = {}
        for video in table:
            for alias in {Path(video).name, Path(video).stem}:
                counts[alias] = counts.get(alias, 0) + 1
                self.aliases[alias] = video
        self.aliases = {alias: video for alias, video in self.aliases.items() if counts[alias] == 1}
        self._table = table

    def _key(self, video: str) -> str:
        """The table's name for a video path: itself, a unique trailing part, its file name or stem."""
        if video in self.table:
            return video
        parts = Path(video).parts
        trailing = [key for key in self.table if Path(key).parts == parts[-len(Path(key).parts):]]
        if len(trailing) == 1:
            return trailing[0]
        for candidate in (Path(video).name, Path(video).stem):
            if candidate in self.aliases:
                return self.aliases[candidate]
        raise DataError(f"{self.source}: no captions for video {video!r} (the file names {len(self.table)} videos)")

    def lookup(self, video: str, frames: Sequence[int]) -> list[str]:
        key = self._key(video)
        if not self.ordered[key]:
            raise DataError(f"{self.source}: video {video!r} has no captioned frame")
        return [nearest_caption(self.table[key], self.ordered[key], int(f)) for f in frames]

    def forward(self, frames: torch.Tensor) -> list[str]:
        raise ConfigError("the captions-file captioner reads captions by video and frame number and cannot caption "
                          "frames; this code path passed frames only")


@register("captioner", "captions-file")
def captions_file(path: str) -> CaptionsFile:
    """Precomputed captions from a CSV (``video,frame,caption``) or JSON (video -> frame -> caption) file."""
    return CaptionsFile(Path(path).expanduser())
