import numpy as np

from datamodules.dvd import read_manifest
from datamodules.synthetic_videos import render_clip, write_synthetic_dataset
from datamodules.video_io import probe_video


def _mean_change(frames: np.ndarray) -> float:
    return float(np.abs(np.diff(frames.astype(np.float32), axis=0)).mean())


def test_violent_clips_change_much_more_between_frames():
    rng = np.random.default_rng(0)
    violent = [_mean_change(render_clip(True, 48, 64, rng)) for _ in range(5)]
    calm = [_mean_change(render_clip(False, 48, 64, rng)) for _ in range(5)]
    assert min(violent) > 3 * max(calm)


def test_dataset_is_written_with_a_balanced_manifest(tmp_path):
    manifest = write_synthetic_dataset(tmp_path, num_clips=4, size=32, fps=12, min_seconds=1, max_seconds=2, num_folds=2)
    rows = read_manifest(manifest, tmp_path)
    assert sorted(r.stratum for r in rows) == [0, 0, 1, 1]
    assert sorted(r.fold for r in rows) == [0, 0, 1, 1]
    for row in rows:
        info = probe_video(row.path)
        assert 12 <= info.num_frames <= 24 and (info.height, info.width) == (32, 32)


def test_captions_carry_part_of_the_signal(clips_root):
    import csv

    from datamodules.synthetic_videos import CAPTION_ACTIONS, CAPTION_EVERY, CAPTIONS_NAME
    from models.encoders.captions_file import read_captions

    table = read_captions(clips_root / CAPTIONS_NAME)  # the file the captions-file captioner reads
    records = read_manifest(clips_root / "manifest.csv", clips_root)
    said, right = 0, 0
    for record in records:
        name = str(record.path.relative_to(clips_root))
        frames = table[name]
        assert sorted(frames) == list(range(0, probe_video(record.path).num_frames, CAPTION_EVERY))
        for caption in frames.values():
            named = next((label for label, actions in CAPTION_ACTIONS.items() if caption in actions), None)
            said += named is not None
            right += named == record.stratum
    total = sum(len(table[str(r.path.relative_to(clips_root))]) for r in records)
    # half the captions name an action, four in five of those the clip's own class
    assert 0.35 < said / total < 0.65 and 0.65 < right / said < 0.95
    assert len(list(csv.reader((clips_root / CAPTIONS_NAME).open()))) == total + 1
