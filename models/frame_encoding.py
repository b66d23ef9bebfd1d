"""The per-frame encoders (CLIP's image tower, the captioner, CLIP's text tower on the captions) run once per
distinct frame of a batch, and of consecutive batches of one video, not once per window.

A batch in ``datamodules.batch``'s layout holds each decoded frame once (``frames``) and each window's rows into
them (``stream_rows``): overlapping windows of a chunk share rows. ``encode_frame_streams`` encodes each distinct
frame the image and text streams read, then gives each window its sequence back by indexing. Given ``row_keys`` (a
key per row naming its frame: video and frame number), rows of one key are one frame (two windows of one video in a
training batch, each with its own rows), and with a ``FrameMemo`` the frames encoded in the batch before (where
consecutive chunks of a video overlap) are not encoded again. The video encoder, which reads a window's frames
together, is not here.

The captions are those of encoding each window on its own, the video features too (same path); the image and text
features equal them up to float rounding, since the towers run at other batch sizes (with the tiny encoders on a
CPU, at most 2.4e-7 and 1.4e-6 apart: ``tests/test_frame_encoding.py``). The cache's key and format are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import torch


@dataclass
class FrameMemo:
    """Per-frame results of the batch before, by row key: ``image`` features and ``text`` (caption, features)."""

    image: dict[Hashable, torch.Tensor] = field(default_factory=dict)
    text: dict[Hashable, tuple[str, torch.Tensor]] = field(default_factory=dict)

    def keep(self, now: "FrameMemo") -> None:
        """Holds ``now`` (a batch's results) and, of what it held, the entries of the videos that batch did not
        read (a key ``(video, frame)`` names its video; other keys are of one video): chunks of several videos may
        come interleaved, and only a video's latest chunk can share frames with its next."""
        read = {_video_of(key) for table in (now.image, now.text) for key in table}
        for name in ("image", "text"):
            kept = {k: v for k, v in getattr(self, name).items() if _video_of(k) not in read}
            setattr(self, name, {**kept, **getattr(now, name)})

    def forget(self, done: Callable[[Hashable], bool]) -> None:
        """Drops the entries whose key ``done`` says no later batch will read (a video's last chunk passed)."""
        for table in (self.image, self.text):
            for key in [k for k in table if done(k)]:
                del table[key]


def _video_of(key: Hashable) -> Hashable:
    return key[0] if isinstance(key, tuple) else None


@dataclass
class EncodedCounts:
    """How many image frames went through CLIP's image tower and how many captions were made (and encoded)."""

    image_frames_encoded: int = 0
    captions_encoded: int = 0


def first_positions(rows: torch.Tensor, identity: Optional[Sequence[Hashable]] = None) -> tuple[list[int], torch.Tensor]:
    """For ``rows`` (B, T): one row per distinct frame, in order of first appearance, and for each element the index
    of its frame among them, (B, T). Rows are the same frame when ``identity`` (a key per row) says so, else when
    they are the same row."""
    flat = rows.flatten().tolist()
    order: dict[Hashable, int] = {}
    first: list[int] = []
    for row in flat:
        key = row if identity is None else identity[row]
        if key not in order:
            order[key] = len(first)
            first.append(row)
    index = [order[row if identity is None else identity[row]] for row in flat]
    return first, torch.tensor(index, dtype=torch.long).view(rows.shape)


def encode_frame_streams(extractor: Any, frames: torch.Tensor, stream_rows: dict[str, torch.Tensor],
                         caption_sources: Optional[tuple[Sequence[str], torch.Tensor]] = None,
                         row_keys: Optional[Sequence[Hashable]] = None,
                         memo: Optional[FrameMemo] = None) -> tuple[dict[str, torch.Tensor], list[list[str]],
                                                                    EncodedCounts]:
    """The image and text streams' features, (B, T, d), each window's captions and the counts, encoding each
    distinct frame once (rows of one key are one frame), and none whose key ``memo`` holds. ``extractor`` is a
    ``FrozenFeatureExtractor``; ``caption_sources`` its ``CaptionKeys`` (each window's video path and text frame
    numbers), which a captions file is read by. ``memo`` then holds this batch's per-frame results, for the next
    batch of the same videos."""
    previous = memo or FrameMemo()
    keys = list(row_keys) if row_keys is not None else None
    now, counts = FrameMemo(), EncodedCounts()

    distinct, where = first_positions(stream_rows["image"], keys)
    wanted = [row for row in distinct if keys is None or keys[row] not in previous.image]
    fresh = {}
    if wanted:
        encoded = extractor.clip.encode_frames(frames.index_select(0, torch.tensor(wanted, device=frames.device))[None])
        fresh = dict(zip(wanted, encoded[0].float()))
        counts.image_frames_encoded = len(wanted)
    vectors = [fresh[row] if row in fresh else previous.image[keys[row]] for row in distinct]
    if keys is not None:
        now.image = {keys[row]: vector for row, vector in zip(distinct, vectors)}
    image = torch.stack(vectors)[where.to(vectors[0].device)]

    text_rows = stream_rows["text"]
    distinct, where = first_positions(text_rows, keys)
    wanted = [row for row in distinct if keys is None or keys[row] not in previous.text]
    captions = dict(_captions(extractor, frames, text_rows, wanted, caption_sources))
    fresh_text = {}
    if wanted:
        encoded_text = extractor.clip.encode_texts([captions[row] for row in wanted]).float()
        fresh_text = {row: (captions[row], vector) for row, vector in zip(wanted, encoded_text)}
        counts.captions_encoded = len(wanted)
    pairs = [fresh_text[row] if row in fresh_text else previous.text[keys[row]] for row in distinct]
    if keys is not None:
        now.text = {keys[row]: pair for row, pair in zip(distinct, pairs)}
    text = torch.stack([vector for _, vector in pairs])[where.to(pairs[0][1].device)]
    window_captions = [[pairs[i][0] for i in row] for row in where.tolist()]
    if memo is not None and keys is not None:  # what the next batch may share: this batch's frames
        memo.keep(now)
    return {"image": image, "text": text}, window_captions, counts


def _captions(extractor: Any, frames: torch.Tensor, text_rows: torch.Tensor, wanted: list[int],
              caption_sources: Optional[tuple[Sequence[str], torch.Tensor]]) -> list[tuple[int, str]]:
    """(row, caption) for the ``wanted`` rows: generated from their frames, or read from a captions file by the
    video and frame number of a window position that reads the row."""
    if not wanted:
        return []
    if not extractor.captions_by_frame:
        return list(zip(wanted, extractor.captioner(frames.index_select(0, torch.tensor(wanted, device=frames.device)))))
    videos, numbers = extractor.caption_keys(caption_sources)
    position = {}
    for window, row_list in enumerate(text_rows.tolist()):
        for step, row in enumerate(row_list):
            position.setdefault(row, (window, step))
    return [(row, extractor.captioner.lookup(videos[position[row][0]], [int(numbers[position[row]])])[0])
            for row in wanted]
