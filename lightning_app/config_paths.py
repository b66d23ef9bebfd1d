"""Resolving ``--config NAME`` arguments: a bare name that is not a path is looked up in ``configs/``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lightning_app.errors import ConfigError

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"


def resolve_config(value: str, configs_dir: Path = CONFIGS_DIR) -> str:
    """An existing path is kept; otherwise ``configs_dir / value``; otherwise a ``ConfigError``."""
    if Path(value).is_file():
        return value
    candidate = configs_dir / value
    if candidate.is_file():
        return str(candidate)
    known = sorted(str(p.relative_to(configs_dir)) for p in configs_dir.rglob("*.yaml")) if configs_dir.is_dir() else []
    raise ConfigError(f"--config {value}: no such file (looked at {Path(value).resolve()} and {candidate}); "
                      f"shipped configs: {', '.join(known) or 'none'}")


def resolve_config_args(argv: Sequence[str], configs_dir: Path = CONFIGS_DIR) -> list[str]:
    """Rewrite every ``--config X`` / ``--config=X`` in ``argv`` with ``resolve_config``."""
    out: list[str] = []
    expect_value = False
    for arg in argv:
        if expect_value:
            out.append(resolve_config(arg, configs_dir))
            expect_value = False
        elif arg == "--config":
            out.append(arg)
            expect_value = True
        elif arg.startswith("--config="):
            out.append("--config=" + resolve_config(arg.split("=", 1)[1], configs_dir))
        else:
            out.append(arg)
    return out
