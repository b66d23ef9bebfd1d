"""W&B sweep files read as Optuna searches: every shipped file maps, each distribution as W&B defines it, and what
has no Optuna equivalent is one error naming the key."""

import math

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from lightning_app.config_paths import CONFIGS_DIR
from lightning_app.errors import ConfigError
from lightning_app.sweep_space import parse_sweep, read_sweep, sampler, trial_flags


def _sweep(parameters, method="random", **extra):
    return {"method": method, "metric": {"name": "val/loss", "goal": "minimize"}, "parameters": parameters, **extra}


@pytest.mark.parametrize("path", sorted((CONFIGS_DIR / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_sweep_file_maps(path):
    spec = read_sweep(path)
    assert spec.space and spec.method in ("grid", "random", "bayes") and spec.goal in ("minimize", "maximize")
    assert type(sampler(spec, 0)).__name__ in ("GridSampler", "RandomSampler", "TPESampler")


def test_each_distribution_maps_as_wandb_defines_it():
    spec = parse_sweep(_sweep({
        "model.lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-3},
        "model.dropout": {"min": 0.0, "max": 0.5},
        "model.hidden_dim": {"min": 16, "max": 64},
        "model.num_heads": {"values": [1, 2, 4]},
        "model.noise_std": {"distribution": "q_uniform", "min": 0.0, "max": 0.3, "q": 0.1},
        "model.weight_decay": {"distribution": "log_uniform", "min": -4.0, "max": -2.0},
        "model.focal_gamma": {"value": 2.0},
        "data.init_args.batch_size": {"distribution": "q_log_uniform_values", "min": 4, "max": 64, "q": 1},
    }), "s.yaml")
    space = spec.space
    assert space["model.lr"] == FloatDistribution(1e-5, 1e-3, log=True)
    assert space["model.dropout"] == FloatDistribution(0.0, 0.5)
    assert space["model.hidden_dim"] == IntDistribution(16, 64)  # integer bounds: int_uniform
    assert space["model.num_heads"] == CategoricalDistribution([1, 2, 4])
    assert space["model.noise_std"] == FloatDistribution(0.0, 0.3, step=0.1)
    assert space["model.weight_decay"].log and math.isclose(space["model.weight_decay"].low, math.exp(-4.0))
    assert space["data.init_args.batch_size"] == IntDistribution(4, 64, log=True)
    assert spec.fixed == {"model.focal_gamma": 2.0} and "model.focal_gamma" not in space


@pytest.mark.parametrize("parameter, message", [
    ({"distribution": "normal", "mu": 0, "sigma": 1}, "distribution normal has no Optuna equivalent"),
    ({"values": [1, 2], "probabilities": [0.5, 0.5]}, "probabilities"),
    ({"distribution": "uniform", "min": 1.0}, "needs min and max"),
    ({"parameters": {"lr": {"value": 1}}}, "nested parameters"),
    ({"distribution": "q_log_uniform_values", "min": 1, "max": 64, "q": 4}, "q: 1"),
])
def test_what_does_not_map_is_one_error_naming_the_key(parameter, message):
    with pytest.raises(ConfigError, match=rf"s.yaml: parameters.model.lr: .*{message}"):
        parse_sweep(_sweep({"model.lr": parameter}), "s.yaml")


def test_grid_needs_discrete_values_and_the_rest_is_checked():
    grid = parse_sweep(_sweep({"model.lr": {"values": [1e-3, 1e-4]}, "model.hidden_dim": {"min": 8, "max": 10}},
                              method="grid"))
    assert grid.grid() == {"model.lr": [1e-3, 1e-4], "model.hidden_dim": [8, 9, 10]} and grid.grid_size() == 6
    with pytest.raises(ConfigError, match="method grid needs values"):
        parse_sweep(_sweep({"model.lr": {"min": 0.1, "max": 0.2}}, method="grid"))
    with pytest.raises(ConfigError, match="method must be one of grid, random, bayes"):
        parse_sweep(_sweep({"model.lr": {"values": [1]}}, method="hyperopt"))
    with pytest.raises(ConfigError, match="metric.name is required"):
        parse_sweep({"method": "random", "parameters": {"model.lr": {"values": [1]}}})
    with pytest.raises(ConfigError, match="only type hyperband"):
        parse_sweep(_sweep({"model.lr": {"values": [1]}}, early_terminate={"type": "envelope"}))


def test_trial_flags_are_what_wandb_passes():
    assert trial_flags({"model.lr": 0.001, "model.streams": None, "model.bidirectional": True, "data.init_args.stride": 16}) == [
        "--model.lr=0.001", "--model.streams=null", "--model.bidirectional=true", "--data.init_args.stride=16"]
