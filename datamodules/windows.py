"""Sliding windows over a video and uniform frame sampling inside a window. Pure functions, no
I/O: every frame index the data pipeline reads comes from here.

* Windows are ``window`` frames long and start every ``stride`` frames, from frame 0. If the
  last regular window stops short of the video's end, one more is aligned to the end, so every
  frame is in a window (if ``stride <= window``; a larger stride leaves gaps, on purpose).
* A video shorter than one window yields a single window starting at 0; indices past its last
  frame are replaced by the last frame (padding by repetition).
* ``count`` frames are sampled uniformly inside a window: the centre of each of ``count`` equal
  segments, ``start + floor((i + 0.5) * window / count)``.
* A stream's *real steps* are its distinct frames; the repeats of a short video's last frame
  after them are padding, which the model masks (``real_steps``).
* The window aligned to a video's end may start less than half a stride after the regular one
  before it, nearly repeating it; window-level scores leave such a window out, so it does not
  weigh twice (``near_duplicate_end``). Frame-level scores and predictions keep it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from datamodules.framing import VIEWS, resolve_framing
from lightning_app.errors import ConfigError


class WindowSettingsError(ConfigError, ValueError):
    """Window settings that cannot cut a video: a ``ValueError`` for callers of these pure
    functions, and a ``ConfigError``, so the command line reports it in one line."""


def window_starts(num_frames: int, window: int, stride: int) -> list[int]:
    """First frame of every window over a video of ``num_frames`` frames."""
    if num_frames < 1:
        raise ValueError(f"a video needs at least one frame, got num_frames={num_frames}")
    if window < 1 or stride < 1:
        raise WindowSettingsError(f"window and stride (--data.window, --data.stride) must be >= 1, got window={window}, "
                                  f"stride={stride}")
    if num_frames <= window:
        return [0]
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return starts


def uniform_indices(start: int, window: int, count: int, num_frames: int) -> list[int]:
    """``count`` frame indices spread uniformly over ``[start, start + window)``; those at or past
    ``num_frames`` are clamped to the last frame (short-video padding)."""
    if count < 1:
        raise WindowSettingsError(f"frames per window (--data.video_frames, image_frames, text_frames) must be >= 1, "
                                  f"got {count}")
    if count > window:
        raise WindowSettingsError(f"cannot sample {count} distinct positions from a {window}-frame window "
                                  "(--data.video_frames, image_frames and text_frames must be at most --data.window)")
    last = num_frames - 1
    return [min(start + ((2 * i + 1) * window) // (2 * count), last) for i in range(count)]


def real_steps(indices: Sequence[int]) -> int:
    """How many of a stream's sampled frames are real: its distinct frames. Indices rise strictly
    inside a video, so the padding (repeats of its last frame) is a suffix of this length."""
    return len(set(indices))


def near_duplicate_end(start: int, window: int, stride: int) -> bool:
    """Whether the window starting at ``start`` is an end-aligned window that starts less than half
    a stride after the regular window before it (regular windows start at multiples of
    ``stride``), overlapping it: it covers the video's tail frames but nearly repeats that window."""
    offset = start % stride
    return 0 < offset < window and 2 * offset < stride


def window_indices(
    start: int, window: int, counts: Mapping[str, int], num_frames: int
) -> dict[str, list[int]]:
    """Per-stream frame indices for one window, e.g. ``counts={"video": 16, "image": 16, "text": 4}``."""
    return {name: uniform_indices(start, window, n, num_frames) for name, n in counts.items()}


@dataclass(frozen=True)
class WindowSpec:
    """How videos are cut into windows: window length and stride in frames, frames sampled per
    stream, the short side decoded frames are resized to (None: as decoded), and each stream's
    framing (``crop`` or ``whole``, ``datamodules/framing.py``; default ``crop``; without a
    ``frame_size`` frames reach the encoders as decoded, and framing does nothing). Built once from
    the datamodule's (or a checkpoint's) settings and passed whole to every source of windows.
    ``counts`` and ``framing`` may be mappings; they are kept as ``(stream, value)`` pairs
    (immutable, picklable).
    """

    window: int = 64
    stride: int = 32
    counts: Any = (("video", 16), ("image", 16), ("text", 4))
    frame_size: Optional[int] = 224
    framing: Any = None

    def __post_init__(self) -> None:
        pairs = self.counts.items() if isinstance(self.counts, Mapping) else self.counts
        object.__setattr__(self, "counts", tuple((str(name), int(count)) for name, count in pairs))
        given = dict(self.framing or {})
        unknown = {view for view in given.values() if view not in VIEWS}
        if unknown:
            raise WindowSettingsError(f"framing must be one of {list(VIEWS)} per stream, got {sorted(unknown)}")
        cropped = self.frame_size is None  # frames as decoded: no view to choose
        object.__setattr__(self, "framing", tuple((name, "crop" if cropped else given.get(name, "crop"))
                                                  for name, _ in self.counts))

    @property
    def views(self) -> tuple[str, ...]:
        """The distinct framings the streams read, in ``VIEWS`` order: each decoded frame is made into each."""
        used = {view for _, view in self.framing}
        return tuple(view for view in VIEWS if view in used)

    def view_of(self, stream: str) -> int:
        """The position in ``views`` of the framing ``stream`` reads."""
        return self.views.index(dict(self.framing)[stream])

    @property
    def per_stream(self) -> dict[str, int]:
        """Frames sampled per window, by stream."""
        return dict(self.counts)

    def starts(self, num_frames: int) -> list[int]:
        return window_starts(num_frames, self.window, self.stride)

    def indices(self, start: int, num_frames: int) -> dict[str, list[int]]:
        return window_indices(start, self.window, self.per_stream, num_frames)

    def near_duplicate(self, start: int) -> bool:
        """Whether the window at ``start`` nearly repeats the one before it (``near_duplicate_end``)."""
        return near_duplicate_end(start, self.window, self.stride)

    @classmethod
    def from_settings(cls, data: Mapping[str, Any], encoders: Optional[Mapping[str, Any]] = None) -> "WindowSpec":
        """From the datamodule's settings (its init arguments, as a checkpoint saves them) and the
        model's encoder specs, by role, which ``framing: encoders`` reads. Settings saved before
        framing existed were all cropped."""
        return cls(window=data["window"], stride=data["stride"], frame_size=data["frame_size"],
                   counts={"video": data["video_frames"], "image": data["image_frames"], "text": data["text_frames"]},
                   framing=resolve_framing(data.get("framing", "crop"), encoders))


def union_indices(per_stream: Mapping[str, list[int]]) -> list[int]:
    """Sorted distinct frames needed by all streams of a window: each is decoded once."""
    return sorted({i for indices in per_stream.values() for i in indices})


def stream_slots(window: int, counts: Mapping[str, int]) -> tuple[list[int], dict[str, list[int]]]:
    """How the streams of a window share its sampled frames: the offsets from the window's start
    of its distinct positions (*slots*, in time order) and, per stream, its frames' slots. The same
    for every window (with 16/16/4 frames over 64, 20 slots hold all 36); past a short video's end
    several slots hold the same clamped frame."""
    offsets = {name: uniform_indices(0, window, count, window) for name, count in counts.items()}
    slots = sorted({offset for stream in offsets.values() for offset in stream})
    slot_of = {offset: slot for slot, offset in enumerate(slots)}
    return slots, {name: [slot_of[offset] for offset in stream] for name, stream in offsets.items()}
