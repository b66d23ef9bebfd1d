import numpy as np
import torch

from datamodules.resize import resize_short_side


def test_resize_short_side_keeps_uint8_and_crops_centre():
    frames = torch.zeros(1, 20, 40, 3, dtype=torch.uint8)
    frames[:, :, 5:35] = 200  # covers the centre square with a margin for the antialiasing kernel
    out = resize_short_side(frames, 10)
    assert out.shape == (1, 10, 10, 3) and out.dtype == torch.uint8
    assert np.allclose(out.numpy(), 200)
