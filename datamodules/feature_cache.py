"""The frozen-feature cache: one safetensors file per video, under a folder named by a key.

Layout::

    <cache_dir>/<key>/
        key.json                     everything the key was computed from (readable)
        videos/<name>.safetensors    per video: video (W, Tv, d_v), image (W, Ti, d_i),
                                     text (W, Tt, d_t) float32; starts, ends (W,) int64;
                                     metadata: video, num_frames, size, mtime, key
        videos/<name>.captions.json  the captions of every window, readable
        errors.json                  videos that could not be extracted, with the reason
        complete.json                written last, when every video of the dataset is in

The key hashes everything that changes features (``key_content``: encoder specs and their local
weight files' size and time, the window spec, a format version), so a new setting is a new folder
and old features are never read for it. Files are written to a temporary name and renamed;
safetensors holds no code, and a truncated file fails to open and is re-extracted. Features
holding NaN or Inf are refused when written and when read, so they never reach training.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from datamodules.batch import STREAMS
from datamodules.windows import WindowSpec
from lightning_app.errors import DataError
from lightning_app.files import atomic_write_text, read_json

FORMAT_VERSION = 2  # 2: each real encoder preprocesses as its own processor does
COMPLETE_FILE = "complete.json"
ERRORS_FILE = "errors.json"
KEY_FILE = "key.json"


def _weights_fingerprint(spec: Mapping[str, Any]) -> Any:
    """Size and modification time of the files of a local ``pretrained`` path (or a captions
    file's ``path``), if any."""
    pretrained = spec.get("pretrained", spec.get("path"))
    if not isinstance(pretrained, str):
        return None
    path = Path(pretrained).expanduser()
    files = sorted(p for p in ([path] if path.is_file() else path.rglob("*") if path.is_dir() else []) if p.is_file())
    return [[str(p.relative_to(path) if path.is_dir() else p.name), p.stat().st_size, int(p.stat().st_mtime)] for p in files]


def key_content(encoders: Mapping[str, Mapping[str, Any]], spec: WindowSpec) -> dict[str, Any]:
    """What keys a cache: its format, the encoders (and their weights' files) and the window spec."""
    return {
        "format": FORMAT_VERSION,
        "encoders": {role: dict(encoder) for role, encoder in sorted(encoders.items())},
        "weights": {role: _weights_fingerprint(encoder) for role, encoder in sorted(encoders.items())},
        "window": spec.window,
        "stride": spec.stride,
        "counts": dict(sorted(spec.per_stream.items())),
        "frame_size": spec.frame_size,
        # caches of centre crops only (all there was before framing) keep their key
        **({"framing": dict(spec.framing)} if spec.views != ("crop",) else {}),
    }


def cache_key(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def file_stem(video: str) -> str:
    """A file name for a video path: readable tail plus a hash of the whole path."""
    tail = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(video).name)[-60:]
    return f"{tail}-{hashlib.sha1(video.encode()).hexdigest()[:10]}"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _writer_alive(tmp: Path) -> bool:
    """Whether the process named in a temporary file's name (``.NAME.PID.tmp``) still runs here."""
    pid = tmp.name.rsplit(".", 2)[-2] if tmp.name.count(".") >= 2 else ""
    return pid.isdigit() and process_alive(int(pid))


def video_stamp(path: Path) -> dict[str, str]:
    stat = path.stat()
    return {"size": str(stat.st_size), "mtime": str(int(stat.st_mtime))}


class FeatureCache:
    """One key's folder: where each video's features go, and whether they are there and valid."""

    def __init__(self, cache_dir: str | Path, content: Mapping[str, Any]):
        self.content = dict(content)
        self.key = cache_key(content)
        self.directory = Path(cache_dir) / self.key
        self.videos_dir = self.directory / "videos"

    def prepare(self) -> None:
        """Create the folder and its key.json; refuse a folder whose key.json says otherwise."""
        self.videos_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.videos_dir.glob(".*.tmp"):  # left by a run that was killed mid-write
            if not _writer_alive(stale):  # not one another extract job on this cache is writing now
                stale.unlink(missing_ok=True)
        key_file = self.directory / KEY_FILE
        if key_file.exists():
            self._check_key_file()
        else:
            atomic_write_text(key_file, json.dumps({"key": self.key, **self.content}, indent=2) + "\n")

    def _check_key_file(self) -> None:
        stored = (read_json(self.directory / KEY_FILE) or {}).get("key")
        if stored != self.key:
            raise DataError(f"feature cache {self.directory} holds key {stored!r}, not {self.key!r}; "
                            "remove the folder or point --data.cache_dir elsewhere")

    def path(self, video: str) -> Path:
        return self.videos_dir / f"{file_stem(video)}.safetensors"

    def captions_path(self, video: str) -> Path:
        return self.videos_dir / f"{file_stem(video)}.captions.json"

    def is_valid(self, video: str, source: Path) -> bool:
        """The video's file exists, opens, carries this key and matches the video file's size and time."""
        path = self.path(video)
        if not path.is_file():
            return False
        try:
            with safe_open(str(path), framework="np") as handle:
                meta = handle.metadata() or {}
                keys = set(handle.keys())
        except Exception:
            return False
        stamp = video_stamp(source)
        return (meta.get("key") == self.key and meta.get("video") == video and set(STREAMS) <= keys
                and meta.get("size") == stamp["size"] and meta.get("mtime") == stamp["mtime"])

    def write(self, video: str, source: Path, features: Mapping[str, np.ndarray], starts: np.ndarray,
              ends: np.ndarray, num_frames: int, captions: list[list[str]]) -> Path:
        """Write one video's features (atomically) and its captions."""
        path = self.path(video)
        tensors = {name: np.ascontiguousarray(features[name], dtype=np.float32) for name in STREAMS}
        for name, array in tensors.items():
            bad = ~np.isfinite(array).all(axis=tuple(range(1, array.ndim)))
            if bad.any():
                raise DataError(f"the {name} features of {video} hold NaN or Inf in {int(bad.sum())} of {len(array)} "
                                f"windows (first at frame {int(np.asarray(starts)[bad.argmax()])}); nothing was cached "
                                "for it: check the encoder (precision, weights) on this video")
        tensors["starts"] = np.asarray(starts, np.int64)
        tensors["ends"] = np.asarray(ends, np.int64)
        metadata = {"key": self.key, "video": video, "num_frames": str(num_frames), **video_stamp(source)}
        atomic_write_text(self.captions_path(video), json.dumps(
            {"video": video, "windows": [{"start": int(s), "captions": c} for s, c in zip(starts, captions)]}, indent=1))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.replace(path)
        return path

    def mark_complete(self, videos: list[str]) -> None:
        atomic_write_text(self.directory / COMPLETE_FILE, json.dumps({"key": self.key, "videos": sorted(videos)}, indent=1))

    def is_complete(self, videos: list[str]) -> bool:
        listed = (read_json(self.directory / COMPLETE_FILE) or {}).get("videos", [])
        return set(videos) <= set(listed)

    def write_errors(self, errors: list[dict[str, str]]) -> None:
        path = self.directory / ERRORS_FILE
        if errors:
            atomic_write_text(path, json.dumps(errors, indent=1) + "\n")
        elif path.exists():
            path.unlink()


def all_finite(tensor: torch.Tensor) -> bool:
    """No NaN or Inf. Through numpy where it can (a view, no copy): cheaper than torch's
    ``isfinite`` dispatch for one window's features, and every window read is checked."""
    if tensor.dtype in (torch.float32, torch.float64, torch.float16):
        return bool(np.isfinite(tensor.numpy()).all())
    return bool(tensor.isfinite().all())


# the largest safetensors header read (the format's own readers refuse 100 MB and more)
MAX_HEADER_BYTES = 100 * 2**20


class _Stream:
    """Where one stream's windows lie in an open cache file: ``rows`` windows of
    ``row_shape`` float32 each, row 0 at byte ``offset``."""

    def __init__(self, offset: int, rows: int, row_shape: tuple[int, ...]):
        self.offset, self.rows, self.row_shape = offset, rows, row_shape
        self.row_bytes = 4 * int(np.prod(row_shape))


def _read_at(file, offset: int, size: int) -> bytearray:
    """``size`` bytes at ``offset`` (fewer at the end of the file). Positional where the OS allows,
    so forked DataLoader workers sharing an inherited descriptor never move each other's position."""
    buffer = bytearray(size)
    if hasattr(os, "preadv"):
        count = os.preadv(file.fileno(), [buffer], offset)
    else:  # Windows: workers are spawned and open their own files
        file.seek(offset)
        count = file.readinto(buffer)
    return buffer if count == size else buffer[:count]


def _stream_layout(file, path: Path) -> dict[str, "_Stream"]:
    """Each stream's rows in a cache file, from its safetensors header (an 8-byte little-endian
    length, then JSON giving each tensor's dtype, shape and byte range). Raises DataError for
    anything the cache did not write (short file, bad header, stream missing or not float32...)."""
    def corrupt(problem: str) -> DataError:
        return DataError(f"corrupt feature cache file {path}: {problem}; re-run extract")

    size = os.fstat(file.fileno()).st_size
    head = _read_at(file, 0, 8)
    if len(head) < 8:
        raise corrupt(f"{size} bytes, too short for a safetensors header")
    length = int.from_bytes(head, "little")
    if not 0 < length <= min(MAX_HEADER_BYTES, size - 8):
        raise corrupt(f"a header length of {length} bytes in a file of {size}")
    try:
        header = json.loads(bytes(_read_at(file, 8, length)))
    except ValueError as error:
        raise corrupt(f"unreadable header ({error})") from None
    streams = {}
    for name in STREAMS:
        entry = header.get(name) if isinstance(header, dict) else None
        if not isinstance(entry, dict):
            raise corrupt(f"no {name} features")
        try:
            shape = [int(n) for n in entry.get("shape", [])]
            begin, end = (int(n) for n in entry.get("data_offsets", (0, 0)))
        except (TypeError, ValueError):
            raise corrupt(f"a malformed header entry for the {name} features") from None
        if entry.get("dtype") != "F32" or len(shape) < 2 or min(shape) < 0:
            raise corrupt(f"{name} features are {entry.get('dtype')} of shape {shape}, not float32 windows")
        stream = _Stream(8 + length + begin, shape[0], tuple(shape[1:]))
        if end - begin != stream.rows * stream.row_bytes or 8 + length + end > size:
            raise corrupt(f"the {name} features need bytes {8 + length + begin} to {8 + length + end}, "
                          f"the file has {size} (truncated?)")
        streams[name] = stream
    return streams


class _CacheFile:
    """One cache file kept open, with its streams' layout: parsed from its header, or taken from
    ``layouts`` when the file is the one parsed before (same inode, size and mtime)."""

    def __init__(self, path: Path, layouts: dict):
        try:
            self.file = open(path, "rb", buffering=0)
        except OSError as error:
            raise DataError(f"cannot open feature cache file {path}: {error.strerror}; re-run extract") from None
        try:
            status = os.fstat(self.file.fileno())
            stamp = (status.st_ino, status.st_size, status.st_mtime_ns)
            known = layouts.get(str(path))
            if known is None or known[0] != stamp:
                known = layouts[str(path)] = (stamp, _stream_layout(self.file, path))
            self.streams = known[1]
        except BaseException:
            self.file.close()
            raise


class CachedFeatureReader:
    """Reads one window's features from the cache files: three positional reads (``pread``), one
    per stream, of its rows alone. No file is memory-mapped, so resident memory does not grow with
    the cache. Training draws windows from all over the cache, so up to ``max_open`` files stay
    open (least recently used closed first) and each file's header is parsed once while the file
    stays the same: reopening costs an ``open`` and an ``fstat``, not a ``safe_open``.
    """

    def __init__(self, max_open: int = 64):
        self.max_open = max_open
        self._open: OrderedDict[str, _CacheFile] = OrderedDict()
        self._layouts: dict = {}
        self._pid = os.getpid()

    def _handle(self, path: Path) -> _CacheFile:
        if self._pid != os.getpid():  # a forked DataLoader worker: its own files from here on
            self._open, self._pid = OrderedDict(), os.getpid()
        key = str(path)
        if key in self._open:
            self._open.move_to_end(key)
            return self._open[key]
        handle = _CacheFile(path, self._layouts)
        self._open[key] = handle
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)[1].file.close()
        return handle

    def window(self, path: Path, index: int) -> dict[str, torch.Tensor]:
        """One window's features per stream, (T, d) float32; NaN or Inf is refused."""
        handle = self._handle(path)
        features = {}
        for name, stream in handle.streams.items():
            if not 0 <= index < stream.rows:
                raise DataError(f"feature cache file {path} has {stream.rows} windows, not a window {index}; re-run extract")
            data = _read_at(handle.file, stream.offset + index * stream.row_bytes, stream.row_bytes)
            if len(data) != stream.row_bytes:
                raise DataError(f"corrupt feature cache file {path}: window {index} of the {name} features is cut short; "
                                "re-run extract")
            features[name] = torch.from_numpy(np.frombuffer(data, dtype="<f4").reshape(stream.row_shape))
            if not all_finite(features[name]):
                raise DataError(f"feature cache file {path}: the {name} features of window {index} hold NaN or Inf; "
                                "delete the file and re-run extract")
        return features

    def __getstate__(self):  # DataLoader workers open their own files
        return {"max_open": self.max_open, "_open": OrderedDict(), "_layouts": dict(self._layouts), "_pid": None}

    def __setstate__(self, state):
        self.__dict__.update(state, _pid=os.getpid())


def _read_small(path: Path, read):
    """``read(handle)`` on a cache file opened with safetensors; any failure is a corrupt file."""
    try:
        with safe_open(str(path), framework="np") as handle:
            return read(handle)
    except Exception as error:
        raise DataError(f"corrupt feature cache file {path}: {error}; re-run extract") from None


def feature_dims(path: Path) -> dict[str, int]:
    """Each stream's feature size in one cache file (from its header, no feature is read)."""
    return _read_small(path, lambda handle: {name: int(handle.get_slice(name).get_shape()[-1]) for name in STREAMS})


def read_index(path: Path) -> tuple[dict[str, str], np.ndarray, np.ndarray]:
    """Metadata, starts and ends of one cache file (header and two small arrays only)."""
    return _read_small(path, lambda handle: (handle.metadata() or {}, handle.get_tensor("starts"),
                                             handle.get_tensor("ends")))
