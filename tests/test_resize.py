import numpy as np
import torch

from datamodules.resize import resize_short_side


def test_resize_short_side_keeps_uint8_and_crops_centre():
    frames = torch.zeros(1, 20, 40, 3, dtype=torch.uint8)
    frames[:, :, 5:35] = 200  # covers the centre square with a margin for the antialiasing kernel
    out = resize_short_side(frames, 10)
    assert out.shape == (1, 10, 10, 3) and out.dtype == torch.uint8
    assert np.allclose(out.numpy(), 200)


def test_matches_the_float_computation_within_one_grey_level():
    from tests.float_preprocess import resize_and_crop

    frames = torch.randint(0, 256, (3, 48, 80, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for size in (32, 64):  # down and up
        reference = resize_and_crop(frames.permute(0, 3, 1, 2).float(), size).round().clamp(0, 255).permute(0, 2, 3, 1)
        out = resize_short_side(frames, size)
        assert out.shape == (3, size, size, 3) and out.dtype == torch.uint8
        assert (out.int() - reference.int()).abs().max() <= 1
