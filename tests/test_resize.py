import numpy as np
import pytest
import torch

from datamodules.resize import centre_square, frame_views, resize_short_side


def test_resize_short_side_keeps_uint8_and_the_aspect_ratio():
    frames = torch.zeros(1, 20, 40, 3, dtype=torch.uint8)
    frames[:, :, 5:35] = 200  # covers the centre square with a margin for the antialiasing kernel
    out = resize_short_side(frames, 10)
    assert out.shape == (1, 10, 20, 3) and out.dtype == torch.uint8
    assert resize_short_side(frames.transpose(1, 2), 10).shape == (1, 20, 10, 3)  # portrait
    assert np.allclose(centre_square(out, 10).numpy(), 200)


def test_the_crop_view_matches_the_float_computation_within_one_grey_level():
    from tests.float_preprocess import resize_and_crop

    frames = torch.randint(0, 256, (3, 48, 80, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for size in (32, 64):  # down and up
        reference = resize_and_crop(frames.permute(0, 3, 1, 2).float(), size).round().clamp(0, 255).permute(0, 2, 3, 1)
        out = frame_views(resize_short_side(frames, size), ("crop",), size)
        assert out.shape == (3, size, size, 3) and out.dtype == torch.uint8
        assert (out.int() - reference.int()).abs().max() <= 1


def test_the_whole_view_keeps_the_sides_a_crop_loses():
    frames = torch.zeros(2, 90, 160, 3, dtype=torch.uint8)  # 16:9
    frames[:, :, :20] = 255  # a bright left edge, outside the centre square
    short = resize_short_side(frames, 36)
    views = frame_views(short, ("crop", "whole"), 36)
    assert views.shape == (4, 36, 36, 3)  # frame i's view v at row 2 i + v
    crop, whole = views[0::2], views[1::2]
    assert int(crop.max()) == 0  # the crop loses the edge
    assert int(whole[:, :, :3].min()) > 200 and int(whole[:, :, 8:].max()) < 30  # the whole frame keeps it, squeezed
    assert torch.equal(frame_views(short, ("whole",), 36), whole)
    assert torch.equal(frame_views(frames, ("crop", "whole"), None), frames)  # no frame_size: as decoded


@pytest.mark.parametrize("views", [("crop",), ("whole",)])
def test_square_frames_look_alike_in_every_view(views):
    frames = torch.randint(0, 256, (2, 16, 16, 3), dtype=torch.uint8)
    assert torch.equal(frame_views(frames, views, 16), frames)
