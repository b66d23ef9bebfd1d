import torch

from models.stream_encoder import StreamGRU, WindowCentering


def test_shapes_and_final_state():
    gru = StreamGRU(12, 8, input_norm="layer")
    outputs, final = gru(torch.randn(3, 5, 12))
    assert outputs.shape == (3, 5, 8) and final.shape == (3, 8)
    assert torch.allclose(outputs[:, -1], final)  # one direction, one layer: last output is the final state


def test_window_centering_ignores_what_is_constant_in_a_window():
    norm = WindowCentering(4).eval()
    x = torch.randn(2, 6, 4)
    shifted = x + torch.randn(2, 1, 4) * 100  # per-window offsets
    assert torch.allclose(norm(x), norm(shifted), atol=1e-4)
