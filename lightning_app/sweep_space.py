"""A W&B sweep file (the one ``wandb sweep`` takes) read as an Optuna search: pure functions, no I/O but the read.

* ``method``: ``grid`` -> ``GridSampler`` (every parameter discrete), ``random`` -> ``RandomSampler``, ``bayes`` ->
  ``TPESampler`` (Optuna's Bayesian optimisation), each seeded.
* ``metric``: ``name`` (a metric the run logs, as ``summary.json`` holds it) and ``goal`` (``minimize`` /
  ``maximize``, default ``minimize`` as W&B's).
* ``parameters``: per config key (``model.lr``, ``data.init_args.stride``), one of ``values`` (categorical),
  ``value`` (fixed, not searched), ``min`` / ``max`` (integers: ``int_uniform``, else ``uniform``), or a
  ``distribution``: ``constant``, ``categorical``, ``int_uniform``, ``uniform``, ``q_uniform``,
  ``log_uniform_values``, ``log_uniform`` (``min`` / ``max`` are natural-log exponents, as W&B reads them),
  ``q_log_uniform_values`` with ``q: 1`` on integers. Distributions without bounds (``normal``, ``beta``, ...),
  weighted ``probabilities`` and nested parameters have no Optuna equivalent: a ``ConfigError`` names the key.
* ``early_terminate`` (``type: hyperband``, ``min_iter``, ``eta``) picks Optuna's ``HyperbandPruner``.
* ``run_cap`` is the number of trials when ``--trials`` is not given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from lightning_app.errors import ConfigError

METHODS = ("grid", "random", "bayes")
GOALS = {"minimize": "minimize", "maximize": "maximize"}
UNBOUNDED = ("normal", "q_normal", "log_normal", "q_log_normal", "beta", "q_beta", "inv_log_uniform",
             "inv_log_uniform_values", "q_log_uniform")


@dataclass(frozen=True)
class SweepSpec:
    """A sweep file, mapped: ``space`` holds each searched key's Optuna distribution, ``fixed`` the keys given
    one value; ``source`` is the file, for messages."""

    name: str
    method: str
    metric: str
    goal: str
    space: dict = field(default_factory=dict)
    fixed: dict = field(default_factory=dict)
    early_terminate: Optional[dict] = None
    run_cap: Optional[int] = None
    source: str = ""

    @property
    def direction(self) -> str:
        return GOALS[self.goal]

    def grid(self) -> dict[str, list]:
        """Every searched key's values, for ``grid`` (each distribution discrete)."""
        return {key: grid_values(key, dist, self.source) for key, dist in self.space.items()}

    def grid_size(self) -> int:
        return math.prod(len(values) for values in self.grid().values())


def _bad(source: str, key: str, why: str) -> ConfigError:
    return ConfigError(f"{source}: parameters.{key}: {why}")


def distribution(key: str, spec: Any, source: str = "sweep") -> Any:
    """The Optuna distribution of one parameter's spec, or ``("fixed", value)`` for a single value."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if not isinstance(spec, Mapping):
        raise _bad(source, key, f"expected a mapping (values, value, min/max or distribution), got {spec!r}")
    if "parameters" in spec:
        raise _bad(source, key, "nested parameters have no Optuna equivalent; name each key in full (model.lr)")
    if "probabilities" in spec:
        raise _bad(source, key, "weighted values (probabilities) have no Optuna equivalent; drop probabilities")
    kind = spec.get("distribution")
    if kind in UNBOUNDED:
        raise _bad(source, key, f"distribution {kind} has no Optuna equivalent (Optuna samples bounded ranges); "
                                "use uniform, log_uniform_values, int_uniform, q_uniform or values")
    if kind in (None, "categorical") and "values" in spec:
        values = list(spec["values"])
        if not values:
            raise _bad(source, key, "values is empty")
        return CategoricalDistribution(values)
    if kind in (None, "constant") and "value" in spec:
        return ("fixed", spec["value"])
    if "min" not in spec or "max" not in spec:
        raise _bad(source, key, f"distribution {kind or 'uniform'} needs min and max")
    low, high = spec["min"], spec["max"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low > high:
        raise _bad(source, key, f"min and max must be numbers with min <= max, got {low!r} and {high!r}")
    integers = isinstance(low, int) and isinstance(high, int)
    if kind is None:
        kind = "int_uniform" if integers else "uniform"
    if kind == "int_uniform":
        return IntDistribution(int(low), int(high))
    if kind == "uniform":
        return FloatDistribution(float(low), float(high))
    if kind == "q_uniform":
        return FloatDistribution(float(low), float(high), step=float(spec.get("q", 1.0)))
    if kind == "log_uniform_values":
        if low <= 0:
            raise _bad(source, key, "log_uniform_values needs min > 0")
        return FloatDistribution(float(low), float(high), log=True)
    if kind == "log_uniform":
        return FloatDistribution(math.exp(low), math.exp(high), log=True)
    if kind == "q_log_uniform_values":
        if spec.get("q", 1) != 1 or not integers or low < 1:
            raise _bad(source, key, "q_log_uniform_values maps to Optuna only as integers with q: 1 and min >= 1")
        return IntDistribution(int(low), int(high), log=True)
    raise _bad(source, key, f"unknown distribution {kind!r}")


def grid_values(key: str, dist: Any, source: str = "sweep") -> list:
    """A discrete distribution's values, for a grid."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution) and not dist.log:
        return list(range(dist.low, dist.high + 1, dist.step))
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        count = int(round((dist.high - dist.low) / dist.step))
        return [dist.low + i * dist.step for i in range(count + 1)]
    raise _bad(source, key, "method grid needs values (or int_uniform / q_uniform); this range is continuous")


def parse_sweep(content: Mapping[str, Any], source: str = "sweep") -> SweepSpec:
    """A sweep file's content -> ``SweepSpec``; a ``ConfigError`` names the first key that does not map."""
    if not isinstance(content, Mapping):
        raise ConfigError(f"{source}: a sweep file is a mapping with method, metric and parameters")
    method = content.get("method")
    if method not in METHODS:
        raise ConfigError(f"{source}: method must be one of {', '.join(METHODS)}, got {method!r}")
    metric = content.get("metric") or {}
    if not isinstance(metric, Mapping) or not metric.get("name"):
        raise ConfigError(f"{source}: metric.name is required (e.g. val/loss), with goal minimize or maximize")
    goal = metric.get("goal", "minimize")
    if goal not in GOALS:
        raise ConfigError(f"{source}: metric.goal must be minimize or maximize, got {goal!r}")
    parameters = content.get("parameters")
    if not isinstance(parameters, Mapping) or not parameters:
        raise ConfigError(f"{source}: parameters is required: the config keys to search")
    space, fixed = {}, {}
    for key, spec in parameters.items():
        mapped = distribution(str(key), spec, source)
        if isinstance(mapped, tuple):
            fixed[str(key)] = mapped[1]
        else:
            space[str(key)] = mapped
    early = content.get("early_terminate")
    if early is not None and (not isinstance(early, Mapping) or early.get("type") != "hyperband"):
        raise ConfigError(f"{source}: early_terminate: only type hyperband maps to Optuna (its HyperbandPruner)")
    run_cap = content.get("run_cap")
    spec = SweepSpec(name=str(content.get("name") or Path(source).stem), method=method, metric=str(metric["name"]),
                     goal=goal, space=space, fixed=fixed, early_terminate=dict(early) if early else None,
                     run_cap=int(run_cap) if run_cap else None, source=source)
    if method == "grid":
        spec.grid()  # every parameter discrete, or the error naming the one that is not
    return spec


def read_sweep(path: str | Path) -> SweepSpec:
    """The sweep file at ``path`` (a path, or a name under ``configs/``, as ``--config`` takes)."""
    import yaml

    from lightning_app.config_paths import resolve_config

    try:
        resolved = resolve_config(str(path))
    except ConfigError as error:
        raise ConfigError(str(error).replace("--config", "--sweep", 1)) from None
    try:
        content = yaml.safe_load(Path(resolved).read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"--sweep {path}: not YAML ({str(error).splitlines()[0]})") from None
    return parse_sweep(content, str(path))


def sampler(spec: SweepSpec, seed: int) -> Any:
    """The Optuna sampler of the sweep's method."""
    import optuna

    if spec.method == "grid":
        return _grid_sampler(spec.grid(), seed)
    if spec.method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def trial_flags(params: Mapping[str, Any]) -> list[str]:
    """Command-line flags setting a trial's parameters, as W&B's ``${args}`` passes them: ``--key=value``."""
    return [f"--{key}={format_value(value)}" for key, value in params.items()]


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _grid_sampler(grid: dict[str, list], seed: int) -> Any:
    """Optuna's ``GridSampler`` without its stop at the last grid point: that stop is for ``study.optimize`` and
    raises when trials are told one by one (``ask`` / ``tell``), as the sweep does; the sweep's own loop ends at
    the grid's size."""
    import optuna

    class AskTellGridSampler(optuna.samplers.GridSampler):
        def after_trial(self, study, trial, state, values) -> None:
            pass

    return AskTellGridSampler(grid, seed=seed)
