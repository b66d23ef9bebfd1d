import torch

from models.feature_extractor import FrozenFeatureExtractor

SPECS = dict(video_encoder={"name": "videoprism-tiny"}, clip_encoder={"name": "clip-tiny"}, captioner={"name": "blip-tiny"})


def _batch(batch=2):
    g = torch.Generator().manual_seed(0)
    frames = lambda t: torch.randint(0, 256, (batch, t, 32, 32, 3), dtype=torch.uint8, generator=g)  # noqa: E731
    return frames(16), frames(16), frames(4)


def test_features_and_captions():
    extractor = FrozenFeatureExtractor(**SPECS)
    features, captions = extractor(*_batch())
    assert features["video"].shape == (2, 16, extractor.dims["video"])
    assert features["image"].shape == (2, 16, extractor.dims["image"])
    assert features["text"].shape == (2, 4, extractor.dims["text"])
    assert len(captions) == 2 and all(len(c) == 4 for c in captions)
    # cloned out of inference mode: usable by layers that save inputs for backward
    assert not any(f.is_inference() for f in features.values())
    layer = torch.nn.Linear(extractor.dims["video"], 1)
    layer(features["video"]).sum().backward()
    assert layer.weight.grad is not None


def test_frozen_and_always_in_eval_mode():
    extractor = FrozenFeatureExtractor(**SPECS)
    assert not any(p.requires_grad for p in extractor.parameters())
    extractor.train()
    assert not any(m.training for m in extractor.modules())
