import json

import pytest
import torch

from lightning_app.errors import ConfigError, DataError
from models.encoders import build_encoder
from models.encoders.captions_file import nearest_caption, parse_captions_csv, parse_captions_json


def test_csv_and_json_give_the_same_table():
    csv_text = "video,frame,caption\nclips/a.mp4,0,a man runs\nclips/a.mp4,16,a man falls\nb.mp4,3,a quiet street\n"
    json_text = json.dumps({"clips/a.mp4": {"0": "a man runs", "16": "a man falls"}, "b.mp4": {"3": "a quiet street"}})
    expected = {"clips/a.mp4": {0: "a man runs", 16: "a man falls"}, "b.mp4": {3: "a quiet street"}}
    assert parse_captions_csv(csv_text, "c.csv") == expected
    assert parse_captions_json(json_text, "c.json") == expected


@pytest.mark.parametrize("text, message", [
    ("video,caption\na.mp4,x\n", r"c.csv: a captions CSV needs the columns video, frame, caption; missing frame"),
    ("video,frame,caption\na.mp4,x,y\n", r"c.csv, line 2: frame 'x' is not a whole number"),
    ("video,frame,caption\na.mp4,-1,y\n", r"c.csv, line 2: frame -1 is negative"),
])
def test_bad_csv_names_file_and_line(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_captions_csv(text, "c.csv")


def test_bad_json_is_named():
    with pytest.raises(ConfigError, match="c.json: not valid JSON"):
        parse_captions_json("{", "c.json")
    with pytest.raises(ConfigError, match=r"c.json: video 'a.mp4' must map frame numbers"):
        parse_captions_json('{"a.mp4": ["x"]}', "c.json")


def test_nearest_caption_prefers_exact_then_nearest_then_earlier():
    frames = {0: "zero", 16: "sixteen", 32: "thirty-two"}
    ordered = sorted(frames)
    assert [nearest_caption(frames, ordered, f) for f in (0, 7, 8, 9, 16, 40)] == \
        ["zero", "zero", "zero", "sixteen", "sixteen", "thirty-two"]


def test_lookup_by_path_suffix_name_or_stem(tmp_path):
    path = tmp_path / "captions.csv"
    path.write_text("video,frame,caption\nclips/a.mp4,0,first\nclips/a.mp4,10,second\nother/b.mkv,0,bee\n")
    source = build_encoder("captioner", {"name": "captions-file", "path": str(path)}, "model.captioner")
    assert source.lookup("/data/dvd/clips/a.mp4", [0, 4, 6, 10]) == ["first", "first", "second", "second"]
    assert source.lookup("b.mkv", [3]) == ["bee"] and source.lookup("b", [3]) == ["bee"]
    with pytest.raises(DataError, match=rf"{path}: no captions for video 'c.mp4'"):
        source.lookup("c.mp4", [0])
    with pytest.raises(ConfigError, match="cannot caption frames"):
        source(torch.zeros(1, 8, 8, 3, dtype=torch.uint8))
    # a file not there yet is read at the first lookup (the demo writes its captions with its clips, after the
    # model is built), and is an error naming it if it is still missing then
    later = build_encoder("captioner", {"name": "captions-file", "path": str(tmp_path / "later.csv")}, "model.captioner")
    with pytest.raises(ConfigError, match="captions file .*later.csv does not exist"):
        later.lookup("a.mp4", [0])
    (tmp_path / "later.csv").write_text("video,frame,caption\nclips/a.mp4,0,written late\n")
    assert later.lookup("a.mp4", [5]) == ["written late"]


def test_training_reads_the_captions_of_each_windows_text_frames(clips_root, tmp_path):
    """End to end: the text stream of a batch is the CLIP embedding of the file's captions for
    exactly the frames the window samples, and a fit runs with it."""
    from datamodules.dvd import DVDDataModule
    from lightning_app.cli import cli_main
    from models.lit_module import VideoFusionModule
    from tests.conftest import data_args

    words = ["a person running", "a dark street", "people fighting", "a car near the park"]
    rows = ["video,frame,caption"]
    videos = sorted(p.relative_to(clips_root).as_posix() for p in clips_root.rglob("*.mp4"))
    for v, video in enumerate(videos):
        rows += [f"{video},{frame},{words[(v + frame // 8) % 4]} {frame}" for frame in range(0, 200, 8)]
    captions = tmp_path / "captions.csv"
    captions.write_text("\n".join(rows) + "\n")
    spec = {"name": "captions-file", "path": str(captions)}

    module = VideoFusionModule(video_encoder={"name": "videoprism-tiny"}, clip_encoder={"name": "clip-tiny"},
                               captioner=spec, hidden_dim=16)
    data = DVDDataModule(str(clips_root), frame_size=32, num_workers=0, batch_size=3)
    data.setup("fit")
    batch = next(iter(data.val_dataloader()))
    text = module.features(batch)["text"]
    source = module.extractor.captioner
    for row in range(len(batch["video_path"])):
        frames = batch["text_frames"][row].tolist()
        expected = source.lookup(batch["video_path"][row], frames)
        assert all(caption.endswith(f" {8 * round(f / 8) if f % 8 != 4 else f - 4}") for caption, f in zip(expected, frames))
        with torch.inference_mode():
            assert torch.allclose(text[row], module.extractor.clip.encode_texts(expected).float(), atol=1e-5)

    encoders = ["--model.video_encoder", "{name: videoprism-tiny}", "--model.clip_encoder", "{name: clip-tiny}",
                "--model.captioner", json.dumps(spec), "--model.hidden_dim", "16"]
    quiet = ["--trainer.enable_progress_bar", "false", "--trainer.accelerator", "cpu"]
    fit = cli_main(["fit", "--config", "demo.yaml", *encoders, *data_args(clips_root), "--trainer.max_epochs", "1",
                    "--trainer.default_root_dir", str(tmp_path / "runs"), *quiet])
    checkpoint = fit.trainer.checkpoint_callback.best_model_path

    # extract writes the file's captions into the cache, and cached features equal in-loop ones
    from lightning_app.extract import run_extract

    summary = run_extract(["--config", "demo.yaml", *encoders, *data_args(clips_root), "--data.cache_dir",
                           str(tmp_path / "cache"), "--trainer.logger", "false", *quiet])
    assert summary["failed"] == 0 and summary["complete"]
    cached = DVDDataModule(str(clips_root), frame_size=32, num_workers=0, batch_size=3, cache_dir=str(tmp_path / "cache"),
                           use_cache="always", encoders={"video": {"name": "videoprism-tiny"}, "clip": {"name": "clip-tiny"},
                                                         "captioner": spec})
    cached.setup("fit")
    cached_batch = next(iter(cached.val_dataloader()))
    assert cached_batch["video_path"] == batch["video_path"] and cached_batch["start"].tolist() == batch["start"].tolist()
    assert torch.allclose(cached_batch["features"]["text"], text, atol=1e-5)
    written = json.loads(next((tmp_path / "cache").rglob("*.captions.json")).read_text())
    file_captions = {c for rows in source.table.values() for c in rows.values()}
    assert all(set(window["captions"]) <= file_captions for window in written["windows"])

    # infer looks captions up by the file it reads, in batch and stream mode alike
    from lightning_app.infer import infer_main

    video = clips_root / videos[0]
    for mode in ([], ["--stream"]):
        out = tmp_path / ("stream" if mode else "batch")
        assert infer_main(["--ckpt_path", checkpoint, "--video", str(video), "--out", str(out), "--device", "cpu", *mode]) == 0
    batch_rows = (tmp_path / "batch").rglob("windows.csv").__next__().read_text()
    stream_rows = (tmp_path / "stream").rglob("windows.csv").__next__().read_text()
    assert batch_rows.splitlines()[0] == stream_rows.splitlines()[0] and len(batch_rows.splitlines()) > 1
