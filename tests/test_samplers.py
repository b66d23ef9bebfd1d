import torch

from datamodules.samplers import EpochSeededRandomSampler, run_seed


def test_order_depends_on_seed_and_epoch_only():
    data = list(range(50))
    a, b = EpochSeededRandomSampler(data, seed=3), EpochSeededRandomSampler(data, seed=3)
    torch.rand(100)  # draws from the global generator change nothing
    first = list(a)
    assert sorted(first) == data and first != data
    assert list(b) == first and list(a) == first  # same epoch, same order, however often it is read
    a.set_epoch(1)
    second = list(a)
    assert sorted(second) == data and second != first
    b.set_epoch(1)
    assert list(b) == second
    assert list(EpochSeededRandomSampler(data, seed=4)) != first


def test_global_generator_is_left_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    list(EpochSeededRandomSampler(list(range(10)), seed=1))
    assert torch.equal(torch.rand(3), expected)


def test_run_seed_reads_lightnings_variable(monkeypatch):
    monkeypatch.setenv("PL_GLOBAL_SEED", "17")
    assert run_seed() == 17
    monkeypatch.delenv("PL_GLOBAL_SEED")
    assert run_seed() == 0
