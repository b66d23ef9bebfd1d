"""Name -> factory registry for the frozen encoders, one table per role: ``video`` (per-frame motion features),
``clip`` (image and text embeddings in one space), ``captioner`` (frames -> sentences). A config names an encoder
with a spec dict, ``{"name": "videoprism-tiny", "seed": 0}``: ``name`` picks the factory, every other key is passed
to it as a keyword argument.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from lightning_app.errors import ConfigError

ROLES = ("video", "clip", "captioner")
_FACTORIES: dict[str, dict[str, Callable[..., nn.Module]]] = {role: {} for role in ROLES}


def register(role: str, name: str) -> Callable:
    """Decorator adding a factory under ``role`` and ``name``."""
    if role not in _FACTORIES:
        raise ValueError(f"unknown encoder role {role!r}; roles are {ROLES}")

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _FACTORIES[role]:
            raise ValueError(f"{role} encoder {name!r} is registered twice")
        _FACTORIES[role][name] = factory
        return factory

    return decorate


def available(role: str) -> list[str]:
    return sorted(_FACTORIES[role])


def build_encoder(role: str, spec: Mapping[str, Any], key: str) -> nn.Module:
    """Build the encoder a spec names; ``key`` is the config key, used in error messages."""
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ConfigError(f"{key} must be a mapping with a 'name' key, e.g. {{name: {available(role)[0]}}}; "
                          f"got {spec!r}")
    name = spec["name"]
    factories = _FACTORIES[role]
    if name not in factories:
        raise ConfigError(f"{key}.name: unknown {role} encoder {name!r}; available: {', '.join(available(role))}")
    factory = factories[name]
    options = {k: v for k, v in spec.items() if k != "name"}
    accepted = inspect.signature(factory).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"{key}: {role} encoder {name!r} takes no option(s) {', '.join(unknown)}; "
                          f"it takes {', '.join(accepted) or 'none'}")
    return factory(**options)
