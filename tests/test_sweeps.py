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
    samples = {key: _sample(spec) for key, spec in sweep["parameters"].items()}
    for column in range(max(len(values) for values in samples.values())):  # every value of every key, few parses
        chosen = {key: values[min(column, len(values) - 1)] for key, values in samples.items()}
        parsed = parse_config([*base, *(f"--{key}={value}" for key, value in chosen.items())])  # W&B's --key=value
        for key, value in chosen.items():
            got = _lookup(parsed, key)
            assert got == pytest.approx(value) if isinstance(value, float) else got == value, key
