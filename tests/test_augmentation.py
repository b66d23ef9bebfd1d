import pytest
import torch

from models.augmentation import FeatureAugmentation, mixup


def _features(batch=64):
    torch.manual_seed(0)
    return {"video": torch.randn(batch, 16, 8) + 1, "image": torch.randn(batch, 16, 8) + 1, "text": torch.randn(batch, 4, 8) + 1}


def test_inactive_in_eval_mode():
    augment = FeatureAugmentation(noise_std=0.5, feature_dropout=0.3, temporal_mask=0.3, modality_dropout=0.5).eval()
    features = _features()
    out = augment(features)
    assert all(torch.equal(out[k], features[k]) for k in features)


def test_each_switch_changes_training_features():
    features = _features()
    for kwargs in ({"noise_std": 0.5}, {"feature_dropout": 0.3}, {"temporal_mask": 0.3}, {"modality_dropout": 0.5}):
        out = FeatureAugmentation(**kwargs).train()(features)
        assert any(not torch.equal(out[k], features[k]) for k in features), kwargs
        assert all(out[k].shape == features[k].shape for k in features)


def test_temporal_mask_zeroes_whole_steps():
    out = FeatureAugmentation(temporal_mask=0.5).train()(_features())
    zero_steps = (out["video"] == 0).all(dim=2)
    assert zero_steps.any() and ((out["video"] == 0).any(dim=2) == zero_steps).all()


def test_modality_dropout_keeps_a_stream_per_window():
    out = FeatureAugmentation(modality_dropout=0.9).train()(_features(256))
    kept = torch.stack([(out[k] != 0).flatten(1).any(dim=1) for k in ("video", "image", "text")], dim=1)
    assert kept.any(dim=1).all() and not kept.all(dim=1).all()


def test_rejects_probabilities_out_of_range():
    with pytest.raises(ValueError):
        FeatureAugmentation(feature_dropout=1.0)


def test_mixup_is_convex():
    embedding, target = torch.randn(32, 4), torch.randint(0, 2, (32, 1)).float()
    mixed, mixed_target = mixup(embedding, target, alpha=0.4)
    assert mixed.shape == embedding.shape and ((mixed_target >= 0) & (mixed_target <= 1)).all()


def test_noise_is_scaled_per_feature_dimension():
    torch.manual_seed(0)
    scales = torch.tensor([100.0, 1.0, 0.01])
    x = torch.randn(64, 16, 3) * scales  # three dimensions of very different spread
    augment = FeatureAugmentation(noise_std=0.1).train()
    noise = augment({"video": x})["video"] - x
    ratio = noise.std(dim=(0, 1)) / (0.1 * x.std(dim=(0, 1)))
    assert torch.allclose(ratio, torch.ones(3), atol=0.05)  # each dimension gets noise at its own scale
