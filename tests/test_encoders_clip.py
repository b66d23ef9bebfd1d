"""open_clip image / text encoder: weights by file, folder, pretrained tag (from a fake Hugging
Face cache) and hub repo, offline; preprocessing; QuickGELU for OpenAI weights; missing weights."""

import json
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from open_clip.pretrained import _pcfg
from PIL import Image
from safetensors.torch import save_file

from lightning_app.errors import ConfigError
from models.encoders import build_encoder
from models.encoders.base import FrozenEncoder
from models.encoders.open_clip_encoder import transform_from_preprocess_cfg
from models.encoders.preprocess import CLIP_MEAN, CLIP_STD, seeded
from tests.encoder_fixtures import frames as _frames, no_network, one_thread  # noqa: F401  (fixtures)

TINY = "test-tiny-clip"  # an open_clip architecture registered for these tests only
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TAG_MEAN, TAG_STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
REPO = "test-org/tiny-clip"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def tiny_arch(monkeypatch):
    """Register the tiny architecture and an ``openai``-like tag for it (QuickGELU, own mean / std)."""
    monkeypatch.setitem(open_clip.factory._MODEL_CONFIGS, TINY, json.loads(json.dumps(TINY_CFG)))
    tag = _pcfg(hf_hub=f"{REPO}/", quick_gelu=True, mean=TAG_MEAN, std=TAG_STD, interpolation="bilinear")
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY, {"openai": tag})


def _tiny_model(quick_gelu: bool, seed: int = 0):
    with seeded(seed):
        return open_clip.create_model(TINY, force_quick_gelu=quick_gelu).eval()


def _cache_file(cache: Path, repo: str, filename: str) -> Path:
    """Where huggingface_hub keeps ``filename`` of ``repo`` at the commit refs/main points to."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    path = root / "snapshots" / COMMIT / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _outputs(encoder, frames, texts):
    with torch.inference_mode():
        return encoder.encode_frames(frames), encoder.encode_texts(texts)


def _reference(model, transform, frames, texts):
    tokenizer = open_clip.get_tokenizer(TINY)
    with torch.inference_mode():
        images = model.encode_image(transform(frames.reshape(-1, *frames.shape[-3:]))).reshape(*frames.shape[:2], -1)
        return images, model.encode_text(tokenizer(texts))


def _has_quick_gelu(model) -> bool:
    return any(isinstance(m, open_clip.transformer.QuickGELU) for m in model.modules())


def test_weights_file_reloads_offline(tmp_path, tiny_arch, no_network):
    model = _tiny_model(quick_gelu=False)
    path = tmp_path / "tiny.bin"
    torch.save(model.state_dict(), path)
    encoder = build_encoder("clip", {"name": "open_clip", "model_name": TINY, "pretrained": str(path)}, "model.clip_encoder")
    frames, texts = _frames(2, 3, 40, 48), ["a person running", "an empty street"]
    images, words = _outputs(encoder, frames, texts)
    expected = _reference(model, transform_from_preprocess_cfg({"size": 32}), frames, texts)
    assert encoder.out_dim == 32 and images.shape == (2, 3, 32) and words.shape == (2, 32)
    assert torch.allclose(images, expected[0], atol=1e-5) and torch.allclose(words, expected[1], atol=1e-5)
    assert not _has_quick_gelu(encoder.model)  # a file keeps the config's activation unless told
    quick = build_encoder("clip", {"name": "open_clip", "model_name": TINY, "pretrained": str(path), "quick_gelu": True}, "k")
    assert _has_quick_gelu(quick.model)
    assert no_network == []


def test_pretrained_tag_loads_from_the_hugging_face_cache_with_quick_gelu(tmp_path, tiny_arch, no_network):
    model = _tiny_model(quick_gelu=True, seed=1)
    torch.save(model.state_dict(), _cache_file(tmp_path / "hub", REPO, "open_clip_pytorch_model.bin"))
    encoder = build_encoder("clip", {"name": "open_clip", "model_name": TINY, "pretrained": "openai"}, "model.clip_encoder")
    assert _has_quick_gelu(encoder.model)  # the openai tag gets QuickGELU
    # the tag's own preprocessing: its mean / std and interpolation
    assert encoder.transform.mean == TAG_MEAN and encoder.transform.std == TAG_STD
    assert encoder.transform.interpolation == "bilinear" and encoder.transform.output_size == (32, 32)
    frames, texts = _frames(1, 4, 32, 32, seed=2), ["people fighting"]
    images, words = _outputs(encoder, frames, texts)
    expected = _reference(model, encoder.transform, frames, texts)
    assert torch.allclose(images, expected[0], atol=1e-5) and torch.allclose(words, expected[1], atol=1e-5)
    assert no_network == []


def test_openai_tag_gets_quick_gelu_even_if_its_config_does_not_say_so(tmp_path, monkeypatch, tiny_arch, no_network):
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY, {"openai": _pcfg(hf_hub=f"{REPO}/")})  # no quick_gelu key
    model = _tiny_model(quick_gelu=True, seed=5)
    save_file(model.state_dict(), _cache_file(tmp_path / "hub", REPO, "open_clip_model.safetensors"))  # the safetensors twin
    encoder = build_encoder("clip", {"name": "open_clip", "model_name": TINY, "pretrained": "openai"}, "k")
    assert _has_quick_gelu(encoder.model)
    frames, texts = _frames(1, 1, 32, 32), ["a"]
    images, words = _outputs(encoder, frames, texts)
    expected = _reference(model, encoder.transform, frames, texts)
    assert torch.allclose(images, expected[0], atol=1e-5) and torch.allclose(words, expected[1], atol=1e-5)


def test_local_dir_and_hub_repo_bring_their_own_config(tmp_path, tiny_arch, no_network):
    model = _tiny_model(quick_gelu=False, seed=3)
    config = {"model_cfg": TINY_CFG, "preprocess_cfg": {"mean": list(TAG_MEAN), "std": list(TAG_STD), "resize_mode": "squash"}}
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    from_folder = build_encoder("clip", {"name": "open_clip", "pretrained": str(folder)}, "k")
    assert from_folder.transform.mode == "squash" and from_folder.transform.mean == TAG_MEAN
    hub = tmp_path / "hub"
    _cache_file(hub, "test-org/tiny-hub", "open_clip_config.json").write_text(json.dumps(config))
    torch.save(model.state_dict(), _cache_file(hub, "test-org/tiny-hub", "open_clip_pytorch_model.bin"))
    from_hub = build_encoder("clip", {"name": "open_clip", "model_name": "hf-hub:test-org/tiny-hub"}, "k")
    assert not _has_quick_gelu(from_hub.model)  # the default tag (openai) does not apply to a hub repo
    frames, texts = _frames(1, 2, 30, 50, seed=4), ["a car"]
    expected = _reference(model, from_folder.transform, frames, texts)
    for encoder in (from_folder, from_hub):
        images, words = _outputs(encoder, frames, texts)
        assert torch.allclose(images, expected[0], atol=1e-5) and torch.allclose(words, expected[1], atol=1e-5)
    assert no_network == []


def test_missing_tag_weights_give_one_clear_error_without_network(tmp_path, no_network):
    with pytest.raises(ConfigError) as error:
        build_encoder("clip", {"name": "open_clip", "model_name": "ViT-B-16", "pretrained": "openai"}, "model.clip_encoder")
    message = str(error.value)
    assert message.startswith("model.clip_encoder: weights 'ViT-B-16/openai' are neither a local folder nor in the Hugging Face cache")
    assert "timm/vit_base_patch16_clip_224.openai" in message and str(tmp_path / "hub") in message
    assert "open_clip.create_model_and_transforms('ViT-B-16', pretrained='openai')" in message
    assert "`hf download timm/vit_base_patch16_clip_224.openai open_clip_pytorch_model.bin`" in message
    # the default spec is CLIP ViT-B/16 with OpenAI's weights
    with pytest.raises(ConfigError, match=r"weights 'ViT-B-16/openai'"):
        build_encoder("clip", {"name": "open_clip"}, "model.clip_encoder")
    with pytest.raises(ConfigError, match=r"not a local checkpoint file or folder, nor a pretrained tag of ViT-B-16 \(tags: openai"):
        build_encoder("clip", {"name": "open_clip", "model_name": "ViT-B-16", "pretrained": "no-such-tag"}, "k")
    with pytest.raises(ConfigError, match="not a local checkpoint file or folder .*does not exist"):
        build_encoder("clip", {"name": "open_clip", "pretrained": str(tmp_path / "missing.bin")}, "k")
    with pytest.raises(ConfigError, match="unknown open_clip model_name 'ViT-Q-99'"):
        build_encoder("clip", {"name": "open_clip", "model_name": "ViT-Q-99"}, "k")
    with pytest.raises(ConfigError, match=r"hf download test-org/not-cached"):
        build_encoder("clip", {"name": "open_clip", "model_name": "hf-hub:test-org/not-cached", "pretrained": None}, "k")
    assert no_network == []


def test_preprocessing_matches_open_clip_transforms_on_a_known_frame():
    frame = torch.zeros(48, 64, 3, dtype=torch.uint8)
    frame[..., 0] = torch.linspace(0, 255, 64).round().to(torch.uint8)
    frame[..., 1] = torch.linspace(0, 255, 48).round().to(torch.uint8)[:, None]
    frame[..., 2] = 10
    for mode in ("shortest", "squash", "longest"):
        cfg = {"size": 32, "mean": CLIP_MEAN, "std": CLIP_STD, "interpolation": "bicubic", "resize_mode": mode}
        theirs = open_clip.image_transform(32, is_train=False, mean=CLIP_MEAN, std=CLIP_STD, resize_mode=mode,
                                           interpolation="bicubic")(Image.fromarray(frame.numpy()))
        ours = transform_from_preprocess_cfg(cfg)(frame[None])[0]
        assert ours.shape == theirs.shape == (3, 32, 32) and (ours - theirs).abs().max() < 0.02, mode
    # normalisation of a constant frame is exact: (value / 255 - mean) / std
    encoder = build_encoder("clip", {"name": "clip-tiny"}, "k")
    flat = torch.tensor([255, 128, 0], dtype=torch.uint8).expand(1, 20, 40, 3)
    pixels = encoder.transform(flat)
    expected = (torch.tensor([1.0, 128 / 255, 0.0]) - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    assert pixels.shape == (1, 3, 32, 32) and torch.allclose(pixels[0, :, 5, 7], expected, atol=1e-6)


def test_half_precision_outputs_are_float32(monkeypatch):
    encoder = build_encoder("clip", {"name": "clip-tiny", "dtype": "bfloat16"}, "k")
    frames, texts = _frames(1, 2, 32, 32), ["a person"]
    reference = _outputs(encoder, frames, texts)
    monkeypatch.setattr(FrozenEncoder, "compute_dtype", lambda self, device=None: torch.bfloat16)
    encoder.to("cpu")
    assert encoder.model_dtype == torch.bfloat16
    half = _outputs(encoder, frames, texts)
    for a, b in zip(half, reference):
        assert a.dtype == torch.float32 and torch.allclose(a, b, atol=0.1)


def test_tokens_and_frames_follow_the_model_device():
    encoder = build_encoder("clip", {"name": "clip-tiny"}, "k")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    encoder.to(device)
    images, words = _outputs(encoder, _frames(1, 2, 32, 32), ["a car"])
    assert images.device.type == words.device.type == device
    assert np.isfinite(images.float().cpu().numpy()).all()
