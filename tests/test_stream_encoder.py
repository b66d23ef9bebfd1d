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


def test_padded_steps_are_not_run():
    torch.manual_seed(0)
    for norm in ("layer", "center", "none"):
        gru = StreamGRU(6, 4, input_norm=norm).eval()
        x = torch.randn(2, 7, 6)
        mask = torch.arange(7) < torch.tensor([[3], [7]])  # the first window has 3 real steps
        outputs, final = gru(x, mask)
        alone_outputs, alone_final = gru(x[:1, :3])  # the first window's real steps on their own
        assert torch.allclose(final[0], alone_final[0], atol=1e-6), norm
        assert torch.allclose(outputs[0, :3], alone_outputs[0], atol=1e-6), norm
        assert torch.equal(outputs[0, 3:], torch.zeros(4, 4))
        assert torch.allclose(final[1], gru(x[1:])[1][0], atol=1e-6), norm
        changed = x.clone()
        changed[0, 3:] = 100.0  # what stands in the padding does not matter
        assert torch.allclose(gru(changed, mask)[1], final, atol=1e-6), norm
