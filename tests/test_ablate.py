"""Ablation configs and the ablate command on the tiny preset."""

import json

import pytest

from lightning_app.ablate import available_variants, run_ablate, split_flags
from lightning_app.cli import cli_main
from lightning_app.errors import ConfigError
from models.fusion import MeanPoolFusion
from tests.conftest import data_args

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu"]
EXPECTED = {"video_only", "image_only", "text_only", "concat_fusion", "no_cross_attention", "no_augmentation", "no_autoencoder"}


def test_every_ablation_is_shipped():
    assert EXPECTED <= set(available_variants())


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_each_ablation_builds_and_runs_a_step(variant, clips_root, tmp_path):
    cli = cli_main(["fit", "--config", "dvd.yaml", "--config", "presets/tiny.yaml", "--config", f"ablations/{variant}.yaml",
                    "--config", "presets/debug.yaml", *data_args(clips_root), "--trainer.default_root_dir", str(tmp_path), *QUIET])
    assert cli.trainer.state.finished
    model = cli.model
    if variant.endswith("_only"):
        assert model.model.stream_names == (variant.split("_")[0],)
    if variant == "no_augmentation":
        assert not model.augment.train().active and model.mixup_alpha == 0
    if variant == "no_autoencoder":
        assert model.reconstructor is None
    if variant == "no_cross_attention":
        assert isinstance(model.model.fusion, MeanPoolFusion)


def test_flags():
    variants, cv, rest = split_flags(["--config", "a.yaml", "--variants", "video_only,no_autoencoder", "--cv"])
    assert variants == ["video_only", "no_autoencoder"] and cv and rest == ["--config", "a.yaml"]
    with pytest.raises(ConfigError, match="unknown nope"):
        split_flags(["--variants", "nope"])


def test_ablate_writes_one_table(clips_root, tmp_path):
    report = run_ablate(["--config", "dvd.yaml", "--config", "presets/tiny.yaml", *data_args(clips_root),
                         "--variants", "video_only,concat_fusion", "--trainer.max_epochs", "1",
                         "--trainer.default_root_dir", str(tmp_path), *QUIET])
    directory = tmp_path / "ablations" / "version_0"
    saved = json.loads((directory / "ablation.json").read_text())
    assert list(saved["results"]) == ["full", "video_only", "concat_fusion"]
    assert all(r["status"] == "ok" and r["metric"] == "val/frame_macro_f1" for r in saved["results"].values())
    assert (directory / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    assert (directory / "ablation.md").read_text().count("\n") == 5
    assert report["directory"] == str(directory)
    # as if the command had been killed during concat_fusion: its results were never written
    for name in ("variant_result.json", "fit_result.json"):
        (directory / "concat_fusion" / name).unlink()
    kept = {v: (directory / v / "variant_result.json").stat().st_mtime_ns for v in ("full", "video_only")}
    again = run_ablate(["--config", "dvd.yaml", "--config", "presets/tiny.yaml", *data_args(clips_root),
                        "--variants", "video_only,concat_fusion", "--trainer.max_epochs", "1",
                        "--trainer.default_root_dir", str(tmp_path), *QUIET])
    assert again["directory"] == str(directory)  # the unfinished folder is continued
    assert {v: (directory / v / "variant_result.json").stat().st_mtime_ns for v in kept} == kept  # not retrained
    assert len(list((directory / "concat_fusion").glob("lightning_logs/version_*"))) == 1  # resumed in its run folder
    assert again["results"]["concat_fusion"]["value"] == pytest.approx(report["results"]["concat_fusion"]["value"])


def test_a_variant_that_changes_nothing_is_named():
    from lightning_app.ablate import unchanged_variants
    from lightning_app.cli import parse_config

    for config_name, expected in (("demo.yaml", ["no_augmentation", "no_autoencoder"]), ("dvd.yaml", [])):
        args = ["--config", config_name, "--config", "presets/tiny.yaml"]
        config = parse_config(["fit", *args])
        assert unchanged_variants(args, ["no_augmentation", "no_autoencoder", "video_only"], config) == expected
