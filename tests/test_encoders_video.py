"""Video encoders (VideoPrism, VideoMAE, V-JEPA 2): save / offline reload, preprocessing,
per-frame features from tubelets, frame counts, missing weights, precision."""


import huggingface_hub
import pytest
import torch

from lightning_app.errors import ConfigError
from models.encoders import available, build_encoder
from models.encoders.base import FrozenEncoder
from models.encoders.preprocess import IMAGENET_MEAN, IMAGENET_STD, FrameTransform
from models.encoders.video_base import tubelet_features
from tests.encoder_fixtures import (frames as _frames, no_network, one_thread, refuse_sockets,  # noqa: F401  (fixtures)
                                   tiny_video_processor)

FAMILIES = ("videoprism", "videomae", "vjepa2")


def _save(encoder, name, folder):
    encoder.model.save_pretrained(folder)
    processor = tiny_video_processor(name)
    if processor is not None:
        processor.save_pretrained(folder)
    return str(folder)


def test_registry_lists_the_video_encoders():
    assert {f"{f}{s}" for f in FAMILIES for s in ("", "-tiny")} <= set(available("video"))


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_tiny_model_reloads_offline_through_the_real_factory(family, tmp_path, no_network):
    tiny = build_encoder("video", {"name": f"{family}-tiny", "seed": 3}, "k").eval()
    folder = _save(tiny, f"{family}-tiny", tmp_path / family)
    loaded = build_encoder("video", {"name": family, "pretrained": folder}, "model.video_encoder").eval()
    assert type(loaded) is type(tiny) and loaded.out_dim == tiny.out_dim == 32
    assert loaded.transform == tiny.transform  # preprocessing read back from the saved processor / config
    frames = _frames(2, 16, 36, 44)
    with torch.inference_mode():
        expected, got = tiny(frames), loaded(frames)
    assert got.shape == (2, 16, 32) and got.dtype == torch.float32
    assert torch.allclose(got, expected, atol=1e-5)
    assert no_network == []


def test_videomae_and_vjepa2_preprocessing_matches_their_processors():
    frame = torch.zeros(1, 48, 64, 3, dtype=torch.uint8)  # a known frame: horizontal ramp in R, constant G, B
    frame[..., 0] = torch.linspace(0, 255, 64).round().to(torch.uint8)
    frame[..., 1] = 200
    frame[..., 2] = 10
    for name in ("videomae-tiny", "vjepa2-tiny"):
        encoder = build_encoder("video", {"name": name}, "k")
        ours = encoder.preprocess(frame[None])[0, 0]
        output = tiny_video_processor(name)(videos=[frame.numpy()], return_tensors="pt")
        theirs = next(iter(output.values()))[0, 0]  # pixel_values (VideoMAE) / pixel_values_videos (V-JEPA 2)
        assert ours.shape == theirs.shape == (3, 32, 32), name
        assert encoder.transform.mean == IMAGENET_MEAN and encoder.transform.std == IMAGENET_STD, name
        # same size, crop and normalisation; resampling differs only in rounding (HF resizes uint8)
        assert (ours - theirs).abs().max() < 0.02, name
        assert torch.allclose(ours[1], torch.full((32, 32), (200 / 255 - IMAGENET_MEAN[1]) / IMAGENET_STD[1]), atol=1e-5)
        assert torch.allclose(ours[2], torch.full((32, 32), (10 / 255 - IMAGENET_MEAN[2]) / IMAGENET_STD[2]), atol=1e-5)
    # V-JEPA 2 resizes the short side to crop * 256 / 224 before the centre crop, as its processor does
    assert build_encoder("video", {"name": "vjepa2-tiny"}, "k").transform.size == int(32 * 256 / 224)


def test_videoprism_preprocessing_is_a_squash_to_its_size_in_zero_one():
    encoder = build_encoder("video", {"name": "videoprism-tiny"}, "k")
    frame = torch.full((1, 1, 20, 50, 3), 51, dtype=torch.uint8)
    frame[..., 2] = 255
    pixels = encoder.preprocess(frame)
    assert pixels.shape == (1, 1, 3, 32, 32)
    assert torch.allclose(pixels[0, 0, 0], torch.full((32, 32), 0.2)) and torch.allclose(pixels[0, 0, 2], torch.ones(32, 32))
    assert encoder.transform.mean is None  # no mean / std: VideoPrism reads RGB in [0, 1]


@pytest.mark.parametrize("steps", [16, 8, 24])
def test_videoprism_takes_any_frame_count_by_interpolating_its_time_embeddings(steps):
    encoder = build_encoder("video", {"name": "videoprism-tiny", "num_frames": 16}, "k").eval()
    frames = _frames(2, steps, 32, 32, seed=steps)
    with torch.inference_mode():
        features = encoder(frames)
        pixels = encoder.preprocess(frames)
        tokens = encoder.model(pixel_values_videos=pixels, interpolate_pos_encoding=steps != 16).last_hidden_state
    assert features.shape == (2, steps, 32)
    assert torch.allclose(features, tokens.reshape(2, steps, 16, 32).mean(2), atol=1e-6)
    if steps != 16:  # the checkpoint's own count needs no interpolation; others would fail without it
        with pytest.raises(RuntimeError):
            encoder.model(pixel_values_videos=pixels)


def test_tubelet_features_average_space_and_repeat_over_the_tubelet():
    tokens = torch.arange(3 * 4, dtype=torch.float32).reshape(1, 12, 1)  # 3 tubelets x 4 spatial tokens
    features = tubelet_features(tokens, steps=5, tubelet=2)
    assert features[0, :, 0].tolist() == [1.5, 1.5, 5.5, 5.5, 9.5]


@pytest.mark.parametrize("name", ["videomae-tiny", "vjepa2-tiny"])
def test_tubelet_models_give_per_frame_features_for_any_frame_count(name):
    encoder = build_encoder("video", {"name": name}, "k").eval()
    frames = _frames(2, 16, 32, 32, seed=1)
    with torch.inference_mode():
        features = encoder(frames)
        pixels = encoder.preprocess(frames)
        if name == "videomae-tiny":
            tokens = encoder.model(pixel_values=pixels).last_hidden_state
        else:
            tokens = encoder.model(pixel_values_videos=pixels, skip_predictor=True).last_hidden_state
        odd = encoder(frames[:, :5])
    # 8 tubelets of 2 frames x 16 spatial tokens, time-major: frames 2k and 2k + 1 share tubelet k
    tubelets = tokens.reshape(2, 8, 16, 32).mean(2)
    assert torch.allclose(features, tubelets.repeat_interleave(2, dim=1), atol=1e-5)
    assert torch.equal(features[:, 6], features[:, 7]) and not torch.allclose(features[:, 5], features[:, 6])
    assert odd.shape == (2, 5, 32)  # an odd count is padded with the last frame, the padding dropped


def test_videomae_cuts_long_inputs_into_clips_of_its_frame_count():
    encoder = build_encoder("video", {"name": "videomae-tiny", "num_frames": 8}, "k").eval()
    frames = _frames(1, 12, 32, 32, seed=2)
    with torch.inference_mode():
        features = encoder(frames)
        first = encoder(frames[:, :8])
        second = encoder(torch.cat([frames[:, 8:], frames[:, -1:].expand(1, 4, 32, 32, 3)], dim=1))
    assert features.shape == (1, 12, 32)
    assert torch.allclose(features[:, :8], first, atol=1e-5) and torch.allclose(features[:, 8:], second[:, :4], atol=1e-5)


@pytest.mark.parametrize(
    "family, default_id",
    [("videoprism", "google/videoprism-base-f16r288"), ("videomae", "MCG-NJU/videomae-base"),
     ("vjepa2", "facebook/vjepa2-vitl-fpc64-256")],
)
def test_missing_weights_are_one_clear_error_and_no_download(family, default_id, tmp_path, no_network):
    with pytest.raises(ConfigError) as error:
        build_encoder("video", {"name": family}, "model.video_encoder")
    message = str(error.value)
    assert message.startswith(f"model.video_encoder: weights '{default_id}' are neither a local folder nor in the Hugging Face cache")
    assert family in message and str(tmp_path / "hub") in message and f"`hf download {default_id}`" in message
    with pytest.raises(ConfigError, match=r"weights folder .*nowhere does not exist"):
        build_encoder("video", {"name": family, "pretrained": str(tmp_path / "nowhere")}, "model.video_encoder")
    assert no_network == []


def test_offline_is_enforced_even_when_the_environment_allows_the_network(tmp_path, monkeypatch):
    attempts = refuse_sockets(monkeypatch)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(ConfigError, match="nothing is downloaded unless the spec sets allow_download: true"):
        build_encoder("video", {"name": "videomae", "pretrained": "someone/videomae-x"}, "model.video_encoder")
    assert attempts == []
    assert huggingface_hub.constants.HF_HUB_OFFLINE is False  # the offline switch is restored


def test_dtype_option_is_checked_and_cpu_stays_float32():
    with pytest.raises(ConfigError, match="dtype must be one of auto, float32, bfloat16, float16"):
        build_encoder("video", {"name": "videoprism-tiny", "dtype": "int8"}, "k")
    encoder = build_encoder("video", {"name": "vjepa2-tiny", "dtype": "bfloat16"}, "k")
    assert encoder.compute_dtype(torch.device("cpu")) == torch.float32
    assert encoder.compute_dtype(torch.device("cuda")) == torch.bfloat16
    assert encoder.to("cpu").model_dtype == torch.float32


def test_auto_dtype_is_bfloat16_on_gpus_that_have_it(monkeypatch):
    encoder = build_encoder("video", {"name": "videoprism-tiny", "dtype": "auto"}, "k")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert encoder.compute_dtype(torch.device("cuda")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert encoder.compute_dtype(torch.device("cuda")) == torch.float16
    assert encoder.compute_dtype(torch.device("cpu")) == torch.float32


@pytest.mark.parametrize("family", FAMILIES)
def test_half_precision_is_applied_on_move_and_outputs_stay_float32(family, monkeypatch):
    """Pretend the device is a GPU (compute dtype bfloat16): moving casts the weights, the
    features come back float32 and close to the float32 ones; back to float32 on CPU again."""
    encoder = build_encoder("video", {"name": f"{family}-tiny", "dtype": "bfloat16"}, "k").eval()
    frames = _frames(1, 16, 32, 32, seed=4)
    with torch.inference_mode():
        reference = encoder(frames)
    monkeypatch.setattr(FrozenEncoder, "compute_dtype", lambda self, device=None: torch.bfloat16)
    encoder.to("cpu")
    assert encoder.model_dtype == torch.bfloat16
    with torch.inference_mode():
        half = encoder(frames)
    assert half.dtype == torch.float32 and torch.allclose(half, reference, atol=0.1)
    monkeypatch.undo()
    with torch.inference_mode():
        again = encoder(frames)  # checked again at call time: CPU -> float32
    assert encoder.model_dtype == torch.float32 and again.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("family", FAMILIES)
def test_on_cuda_inputs_follow_the_model_and_auto_is_half_precision(family):
    encoder = build_encoder("video", {"name": f"{family}-tiny", "dtype": "auto"}, "k").eval().cuda()
    assert encoder.model_dtype in (torch.bfloat16, torch.float16)
    with torch.inference_mode():
        features = encoder(_frames(1, 16, 32, 32))  # frames on the CPU, model on the GPU
    assert features.device.type == "cuda" and features.dtype == torch.float32


def test_frame_transform_reads_hugging_face_processor_settings():
    from transformers import VideoMAEImageProcessor

    processor = VideoMAEImageProcessor(size={"shortest_edge": 40}, crop_size={"height": 36, "width": 36}, resample=3,
                                       image_mean=[0.1, 0.2, 0.3], image_std=[0.5, 0.5, 0.5])
    transform = FrameTransform.from_hf_processor(processor)
    assert transform == FrameTransform(size=40, mode="shortest", crop=(36, 36), mean=(0.1, 0.2, 0.3),
                                       std=(0.5, 0.5, 0.5), interpolation="bicubic")
    assert transform(_frames(2, 50, 80)).shape == (2, 3, 36, 36)


def test_allow_download_lets_the_loader_reach_the_hub(monkeypatch, tmp_path):
    """With allow_download the loader is called with local_files_only=False and hub access on;
    a failed download is still one clear error."""
    from transformers import VideoMAEModel

    seen = {}

    def fake_from_pretrained(path, **kwargs):
        seen.update(kwargs, offline=huggingface_hub.constants.HF_HUB_OFFLINE, path=path)
        raise OSError("no route to host")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(VideoMAEModel, "from_pretrained", fake_from_pretrained)
    with pytest.raises(ConfigError, match=r"could not download weights 'org/videomae-x' .* \(allow_download is on\)"):
        build_encoder("video", {"name": "videomae", "pretrained": "org/videomae-x", "allow_download": True}, "k")
    assert seen == {"local_files_only": False, "cache_dir": str(tmp_path / "hub"), "offline": False, "path": "org/videomae-x"}
    seen.clear()
    with pytest.raises(ConfigError, match="neither a local folder nor in the Hugging Face cache"):
        build_encoder("video", {"name": "videomae", "pretrained": "org/videomae-x"}, "k")
    assert seen["local_files_only"] is True and seen["offline"] is True


def test_checkpoint_preprocessing_is_read_from_an_image_processor_config_or_falls_back(tmp_path, no_network):
    """Real VideoMAE checkpoints carry a (legacy) image-processor config; a folder with none
    gets VideoMAE's defaults: short side to image_size, centre crop, ImageNet statistics."""
    from transformers import VideoMAEImageProcessor

    tiny = build_encoder("video", {"name": "videomae-tiny"}, "k")
    tiny.model.save_pretrained(tmp_path / "legacy")
    VideoMAEImageProcessor(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32},
                           image_mean=[0.4, 0.4, 0.4], image_std=[0.2, 0.2, 0.2]).save_pretrained(tmp_path / "legacy")
    legacy = build_encoder("video", {"name": "videomae", "pretrained": str(tmp_path / "legacy")}, "k")
    assert legacy.transform == FrameTransform(size=40, crop=(32, 32), mean=(0.4,) * 3, std=(0.2,) * 3)
    tiny.model.save_pretrained(tmp_path / "bare")
    bare = build_encoder("video", {"name": "videomae", "pretrained": str(tmp_path / "bare")}, "k")
    assert bare.transform == FrameTransform(size=32, crop=(32, 32), mean=IMAGENET_MEAN, std=IMAGENET_STD)
