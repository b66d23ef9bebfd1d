import pytest

from lightning_app.config_paths import CONFIGS_DIR, resolve_config, resolve_config_args
from lightning_app.errors import ConfigError


def test_bare_names_resolve_to_the_configs_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_config("demo.yaml") == str(CONFIGS_DIR / "demo.yaml")
    assert resolve_config("presets/tiny.yaml") == str(CONFIGS_DIR / "presets" / "tiny.yaml")
    local = tmp_path / "mine.yaml"
    local.write_text("{}")
    assert resolve_config("mine.yaml") == "mine.yaml"  # an existing path wins


def test_every_config_flag_is_rewritten():
    args = resolve_config_args(["fit", "--config", "dvd.yaml", "--config=presets/tiny.yaml", "--data.fold", "2"])
    assert args == ["fit", "--config", str(CONFIGS_DIR / "dvd.yaml"), f"--config={CONFIGS_DIR / 'presets' / 'tiny.yaml'}", "--data.fold", "2"]


def test_missing_config_names_both_places_and_the_shipped_ones():
    with pytest.raises(ConfigError, match=r"--config nope.yaml: no such file .*shipped configs: .*demo.yaml"):
        resolve_config("nope.yaml")
