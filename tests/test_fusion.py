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


def test_the_papers_final_state_form_ignores_the_image_stream_and_the_residual_form_does_not():
    torch.manual_seed(0)
    dims = {"video": 6, "image": 6, "text": 6}
    features = {name: torch.randn(4, 8, 6) for name in dims}
    other_image = {**features, "image": torch.randn(4, 8, 6)}
    for residual, image_matters in ((False, False), (True, True)):
        model = StreamFusionModel(dims, hidden_dim=8, fusion_mode="final_state", fusion_residual=residual).eval()
        changed = not torch.allclose(model(features), model(other_image))
        assert changed == image_matters, residual
    # sequence mode: the image only steers the attention weights, yet its content reaches h with the residual
    model = StreamFusionModel(dims, hidden_dim=8, fusion_residual=True).eval()
    assert not torch.allclose(model(features), model(other_image))


def _retrieval_task(n, seed, steps=16, dim=16):
    """The image stream carries a key; the video holds every key once, each with a bit; the label is
    the bit beside the image's key. The keys are drawn anew for every batch, so only matching the
    image against the video (what cross-attention does) solves it; the text stream is noise."""
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(steps, dim, generator=g)
    order = torch.stack([torch.randperm(steps, generator=g) for _ in range(n)])
    where = torch.randint(steps, (n,), generator=g)
    bits = torch.randint(2, (n, steps), generator=g).float()
    video = torch.cat([table[order], bits[..., None].expand(-1, -1, 4) * 2 - 1], -1)
    image = torch.cat([table[order[torch.arange(n), where]][:, None].expand(-1, steps, -1), torch.zeros(n, steps, 4)], -1)
    return {"video": video, "image": image, "text": torch.randn(n, 4, dim + 4, generator=g)}, bits[torch.arange(n), where][:, None]


def test_cross_attention_over_sequences_solves_what_no_other_fusion_can():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        scores = {}
        for name, options in {"cross_attention": {}, "final_state": {"fusion_mode": "final_state"},
                              "concat": {"fusion": "concat"}, "mean_pool": {"fusion": "mean_pool"},
                              "video_only": {"fusion": "concat", "streams": ["video"]},
                              "image_only": {"fusion": "concat", "streams": ["image"]}}.items():
            torch.manual_seed(0)
            model = StreamFusionModel({s: 20 for s in ("video", "image", "text")}, hidden_dim=32, dropout=0.0, **options)
            optimiser = torch.optim.Adam(model.parameters(), 3e-3)
            for step in range(300):  # cross-attention is past 0.9 by step 250, the others stay near 0.58
                features, labels = _retrieval_task(64, seed=step)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(features), labels)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            features, labels = _retrieval_task(512, seed=10**6)
            with torch.no_grad():
                scores[name] = float(((model(features) > 0).float() == labels).float().mean())
    finally:
        torch.set_num_threads(threads)
    assert scores["cross_attention"] >= 0.9, scores
    assert all(score <= 0.7 for name, score in scores.items() if name != "cross_attention"), scores


@pytest.mark.parametrize("fusion, mode, residual", [("cross_attention", "sequence", False),
                                                    ("cross_attention", "sequence", True),
                                                    ("cross_attention", "final_state", False),
                                                    ("concat", "sequence", False), ("mean_pool", "sequence", False)])
def test_padding_past_a_short_videos_end_is_masked(fusion, mode, residual):
    torch.manual_seed(0)
    model = StreamFusionModel({"video": 6, "image": 5, "text": 4}, fusion=fusion, fusion_mode=mode,
                              fusion_residual=residual, hidden_dim=8).eval()
    features = {"video": torch.randn(2, 8, 6), "image": torch.randn(2, 8, 5), "text": torch.randn(2, 4, 4)}
    lengths = {"video": torch.tensor([3, 8]), "image": torch.tensor([3, 8]), "text": torch.tensor([1, 4])}
    padded = {name: x.clone() for name, x in features.items()}
    for name, x in padded.items():
        x[0, int(lengths[name][0]):] = 3 * torch.randn_like(x[0, int(lengths[name][0]):])  # other padding
    assert torch.allclose(model(features, lengths), model(padded, lengths), atol=1e-5)
    real = {name: x[:1, : int(lengths[name][0])] for name, x in features.items()}  # the real steps alone
    assert torch.allclose(model(features, lengths)[:1], model(real), atol=1e-5)
    assert not torch.allclose(model(features)[:1], model(padded)[:1], atol=1e-3)  # unmasked, padding counts
