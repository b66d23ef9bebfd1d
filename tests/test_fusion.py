import math

import pytest
import torch

from models.fusion import CrossAttention, CrossAttentionFusion
from models.fusion_model import StreamFusionModel


def reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v, written out; the independent check for ``CrossAttention``."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.softmax(dim=-1) @ v


def test_cross_attention_matches_manual_softmax_attention():
    torch.manual_seed(0)
    attention = CrossAttention(8, num_heads=1).eval()
    query, context = torch.randn(2, 5, 8), torch.randn(2, 7, 8)
    q, k, v = attention.q_proj(query), attention.k_proj(context), attention.v_proj(context)
    scores = torch.einsum("bqd,bkd->bqk", q, k) / 8 ** 0.5
    weights = torch.exp(scores - scores.max(-1, keepdim=True).values)
    weights = weights / weights.sum(-1, keepdim=True)
    expected = attention.out_proj(torch.einsum("bqk,bkd->bqd", weights, v))
    assert torch.allclose(attention(query, context), expected, atol=1e-5)
    assert torch.allclose(reference_attention(q, k, v), torch.einsum("bqk,bkd->bqd", weights, v), atol=1e-5)


def test_multi_head_attention_splits_channels():
    torch.manual_seed(0)
    attention = CrossAttention(8, num_heads=2).eval()
    query, context = torch.randn(2, 3, 8), torch.randn(2, 4, 8)
    q, k, v = attention.q_proj(query), attention.k_proj(context), attention.v_proj(context)
    heads = [reference_attention(q[..., h * 4:(h + 1) * 4], k[..., h * 4:(h + 1) * 4], v[..., h * 4:(h + 1) * 4]) for h in range(2)]
    assert torch.allclose(attention(query, context), attention.out_proj(torch.cat(heads, -1)), atol=1e-5)


def _streams(batch=2, hidden=8):
    seq = {"video": torch.randn(batch, 16, hidden), "image": torch.randn(batch, 16, hidden), "text": torch.randn(batch, 4, hidden)}
    return {name: (x, x[:, -1]) for name, x in seq.items()}


@pytest.mark.parametrize("mode", ["sequence", "final_state"])
@pytest.mark.parametrize("bidirectional, width", [(False, 16), (True, 32)])
def test_fusion_output_width(mode, bidirectional, width):
    fusion = CrossAttentionFusion(8, mode=mode, bidirectional=bidirectional)
    assert fusion(_streams()).shape == (2, width) and fusion.out_dim == width


def test_final_state_attention_is_the_projected_value():
    torch.manual_seed(0)
    fusion = CrossAttentionFusion(8, mode="final_state").eval()
    streams = _streams()
    video_final = streams["video"][1]
    block = fusion.image_video
    expected = block.out_proj(block.v_proj(video_final))  # softmax over one key is 1
    assert torch.allclose(fusion(streams)[:, :8], expected, atol=1e-5)


def test_sequence_mode_attends_over_the_whole_sequence():
    torch.manual_seed(0)
    fusion = CrossAttentionFusion(8).eval()
    streams = _streams()
    before = fusion(streams)
    video, final = streams["video"]
    changed = video.clone()
    changed[:, 3] += 5.0  # an early step, not the final state
    streams["video"] = (changed, final)
    assert not torch.allclose(fusion(streams)[:, :8], before[:, :8])
    assert torch.allclose(fusion(streams)[:, 8:], before[:, 8:])  # text branch untouched


def test_full_model_gives_one_logit_per_window():
    model = StreamFusionModel({"video": 12, "image": 10, "text": 10}, hidden_dim=8)
    features = {"video": torch.randn(3, 16, 12), "image": torch.randn(3, 16, 10), "text": torch.randn(3, 4, 10)}
    assert model(features).shape == (3, 1)


@pytest.mark.parametrize("fusion, streams, width", [("concat", ["video"], 8), ("concat", ["video", "image", "text"], 24),
                                                     ("mean_pool", ["image", "text"], 16)])
def test_ablation_variants(fusion, streams, width):
    model = StreamFusionModel({"video": 12, "image": 10, "text": 10}, hidden_dim=8, fusion=fusion, streams=streams)
    features = {"video": torch.randn(3, 16, 12), "image": torch.randn(3, 16, 10), "text": torch.randn(3, 4, 10)}
    assert model.fuse(features).shape == (3, width) and model(features).shape == (3, 1)
    assert set(model.streams) == set(streams)


def test_cross_attention_needs_all_streams():
    from lightning_app.errors import ConfigError

    with pytest.raises(ConfigError, match="needs all three streams"):
        StreamFusionModel({"video": 4, "image": 4, "text": 4}, hidden_dim=8, streams=["video"])


def test_the_per_stream_fusions_pool_as_their_names_say():
    from models.fusion import ConcatFusion, MeanPoolFusion, build_fusion

    outputs = {name: (torch.randn(2, 5, 3), torch.randn(2, 3)) for name in ("video", "text")}
    concat, mean = build_fusion("concat", 3, ["video", "text"]), build_fusion("mean_pool", 3, ["video", "text"])
    assert isinstance(concat, ConcatFusion) and isinstance(mean, MeanPoolFusion) and concat.out_dim == mean.out_dim == 6
    assert torch.equal(concat(outputs), torch.cat([outputs["video"][1], outputs["text"][1]], dim=-1))
    assert torch.allclose(mean(outputs), torch.cat([outputs["video"][0].mean(1), outputs["text"][0].mean(1)], dim=-1))
    with pytest.raises(ValueError, match="unknown fusion"):
        build_fusion("sum", 3, ["video"])
