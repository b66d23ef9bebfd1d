from collections import namedtuple
from dataclasses import dataclass
from unittest import mock

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device

from models.batch_transfer import move_batch
from models.lit_module import VideoFusionModule

META = torch.device("meta")  # a real move on a machine without a GPU

Pair = namedtuple("Pair", "left right")


@dataclass
class Boxed:
    value: torch.Tensor


def _window_batch():
    return {"features": {"video": torch.randn(2, 4, 3), "image": torch.randn(2, 4, 5)},
            "target": torch.tensor([[0.0], [1.0]]), "video_id": ["a", "b"], "video_path": ("x.mp4", "y.mp4"),
            "start": torch.tensor([0, 32]), "weight": 0.5, "note": None,
            "nested": [torch.zeros(1), ("text", torch.ones(2))]}


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def test_every_tensor_moves_and_everything_else_is_kept():
    batch = _window_batch()
    moved = move_batch(batch, META)
    assert all(t.device == META for t in _tensors(moved))
    assert len(list(_tensors(moved))) == len(list(_tensors(batch))) == 6
    assert moved["video_id"] == ["a", "b"] and type(moved["video_id"]) is list
    assert moved["video_path"] == ("x.mp4", "y.mp4") and type(moved["video_path"]) is tuple
    assert moved["weight"] == 0.5 and moved["note"] is None
    assert moved["nested"][1][0] == "text"
    assert all(t.device.type == "cpu" for t in _tensors(batch))  # the input is not changed


def test_same_structure_and_values_as_lightnings_transfer():
    batch = _window_batch()
    ours, lightnings = move_batch(batch, "cpu"), move_data_to_device(batch, torch.device("cpu"))
    assert ours.keys() == lightnings.keys()
    for a, b in zip(_tensors(ours), _tensors(lightnings)):
        assert torch.equal(a, b)
    assert ours["video_id"] == lightnings["video_id"] and ours["nested"][1][0] == lightnings["nested"][1][0]


def test_a_tensor_already_there_is_returned_as_it_is():
    tensor = torch.zeros(3)
    assert move_batch({"x": tensor}, torch.device("cpu"))["x"] is tensor


def test_other_types_go_through_lightning():
    moved = move_batch({"pair": Pair(torch.zeros(1), "s"), "boxed": Boxed(torch.ones(2))}, META)
    assert isinstance(moved["pair"], Pair) and moved["pair"].left.device == META and moved["pair"].right == "s"
    assert isinstance(moved["boxed"], Boxed) and moved["boxed"].value.device == META


def test_non_blocking_only_where_the_copy_can_be_asynchronous():
    seen = []

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("non_blocking"))
        return self  # where it went does not matter here

    with mock.patch.object(torch.Tensor, "to", spy):
        move_batch({"x": torch.zeros(1)}, META)
        move_batch({"x": torch.zeros(1, device=META)}, torch.device("cpu"))
    assert seen == [True, False]


def test_the_module_moves_its_batches_with_it():
    module = VideoFusionModule(video_encoder={"name": "videoprism-tiny"}, clip_encoder={"name": "clip-tiny"},
                               captioner={"name": "blip-tiny"}, hidden_dim=16)
    moved = module.transfer_batch_to_device(_window_batch(), META, 0)
    assert all(t.device == META for t in _tensors(moved)) and moved["video_id"] == ["a", "b"]
