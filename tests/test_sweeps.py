"""Every W&B sweep file names real CLI keys with values the CLI accepts."""

from pathlib import Path

import pytest
import yaml

from lightning_app.cli import parse_config
from lightning_app.config_paths import CONFIGS_DIR

SWEEPS = sorted((CONFIGS_DIR / "sweeps").glob("*.yaml"))


def _sample(spec: dict):
    if "values" in spec:
        return spec["values"]
    if "value" in spec:
        return [spec["value"]]
    return [spec["min"], spec["max"]]


def _lookup(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


def test_there_are_sweeps():
    assert len(SWEEPS) >= 2


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_sweep_parameters_are_valid_cli_keys(path: Path):
    sweep = yaml.safe_load(path.read_text())
    command = sweep["command"]
    assert command[1:5] == ["python", "-m", "lightning_app", "fit"] and command[-1] == "${args}"
    config_name = command[command.index("--config") + 1]
    base = ["fit", "--config", config_name, "--config", "presets/tiny.yaml"]
    assert sweep["metric"]["name"].startswith("val/")
    for key, spec in sweep["parameters"].items():
        for value in _sample(spec):
            parsed = parse_config([*base, f"--{key}={value}"])  # W&B passes --key=value
            assert _lookup(parsed, key) == pytest.approx(value) if isinstance(value, float) else _lookup(parsed, key) == value, key
