"""The video manifest: which videos a dataset holds, their labels and folds.

A CSV file with a header row and one row per video::

    video,label,fold
    clips/fight_001.mp4,1,0
    clips/walk_017.mp4,0,3

* ``video``: path relative to the data root (or absolute).
* ``label``: the video's class, 1 = violent (positive), 0 = not violent.
* ``fold``: integer fold number; ``--data.fold k`` validates on fold k, trains on the rest.
* ``split`` (optional): ``test`` marks held-out test videos, used by ``test`` only.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from datamodules.video_io import VIDEO_EXTENSIONS
from lightning_app.errors import DataError

REQUIRED_COLUMNS = ("video", "label", "fold")


@dataclass(frozen=True)
class ManifestRow:
    video: Path
    label: int
    fold: int
    split: str = ""


def read_manifest(path: str | Path, root: str | Path) -> list[ManifestRow]:
    """Rows of a manifest CSV, video paths resolved against ``root``."""
    path, root = Path(path), Path(root)
    if not path.is_file():
        videos = [p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS] if root.is_dir() else []
        found = f"{len(videos)} video file(s) under {root} but " if videos else f"no videos under {root} and "
        raise DataError(
            f"{found}no manifest: {path} not found (expected a CSV with columns {','.join(REQUIRED_COLUMNS)}; "
            "see datamodules/manifest.py)"
        )
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"manifest {path} lacks column(s) {', '.join(missing)}; header is {reader.fieldnames}")
        rows = []
        for line, record in enumerate(reader, start=2):
            try:
                label, fold = int(record["label"]), int(record["fold"])
            except (TypeError, ValueError):
                raise DataError(
                    f"manifest {path}, line {line}: label and fold must be integers, "
                    f"got label={record['label']!r}, fold={record['fold']!r}"
                ) from None
            if label not in (0, 1):
                raise DataError(f"manifest {path}, line {line}: label must be 0 or 1, got {label}")
            video = Path(record["video"])
            rows.append(
                ManifestRow(
                    video=video if video.is_absolute() else root / video,
                    label=label,
                    fold=fold,
                    split=(record.get("split") or "").strip().lower(),
                )
            )
    if not rows:
        raise DataError(f"no videos found: manifest {path} lists no rows")
    return rows


def write_manifest(path: str | Path, rows: list[dict]) -> None:
    """Write manifest rows (dicts with at least the required columns), atomically."""
    path = Path(path)
    columns = list(REQUIRED_COLUMNS) + sorted({k for r in rows for k in r} - set(REQUIRED_COLUMNS))
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
