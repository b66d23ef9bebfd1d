"""Captioners (BLIP, BLIP-2, InstructBLIP, Florence-2, SmolVLM) behind one interface: save /
offline reload, preprocessing, prompts, batching, generation settings, missing weights, precision."""

import pytest
import torch

from lightning_app.errors import ConfigError
from models.encoders import available, build_encoder
from models.encoders.base import FrozenEncoder
from models.encoders.captioner import Captioner, preprocesses_on_gpu
from models.encoders.preprocess import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD
from tests.encoder_fixtures import frames as _frames, no_network, one_thread  # noqa: F401  (fixtures)

FAMILIES = ("blip", "blip2", "instructblip", "florence2", "smolvlm")
DEFAULT_IDS = {
    "blip": "Salesforce/blip-image-captioning-base",
    "blip2": "Salesforce/blip2-opt-2.7b",
    "instructblip": "Salesforce/instructblip-flan-t5-xl",
    "florence2": "florence-community/Florence-2-base",
    "smolvlm": "HuggingFaceTB/SmolVLM-256M-Instruct",
}
# (mean, std) each family's tiny processor normalises with
STATS = {"blip": (CLIP_MEAN, CLIP_STD), "blip2": (CLIP_MEAN, CLIP_STD), "instructblip": (CLIP_MEAN, CLIP_STD),
         "florence2": (IMAGENET_MEAN, IMAGENET_STD), "smolvlm": ((0.5,) * 3, (0.5,) * 3)}


def _no_specials(captioner: Captioner) -> dict:
    """Generation settings that make a random model write words: at least 3 new tokens, and no
    special token other than the end of text."""
    tokenizer = captioner.tokenizer
    return {"min_new_tokens": 3, "suppress_tokens": sorted(set(tokenizer.all_special_ids) - {tokenizer.eos_token_id})}


def _tiny(family: str, **options) -> Captioner:
    captioner = build_encoder("captioner", {"name": f"{family}-tiny", **options}, "k")
    captioner.generate_kwargs.update(_no_specials(captioner))
    return captioner.eval()


def test_registry_lists_the_captioners():
    assert {f"{f}{s}" for f in FAMILIES for s in ("", "-tiny")} <= set(available("captioner"))


def test_every_captioner_takes_one_set_of_generation_options():
    from dataclasses import fields
    from inspect import signature

    from models.encoders.captioner import Generation
    from models.encoders.registry import _FACTORIES

    shared = [f.name for f in fields(Generation)]
    for name in (f"{f}{s}" for f in FAMILIES for s in ("", "-tiny")):
        assert list(signature(_FACTORIES["captioner"][name]).parameters)[-len(shared):] == shared, name
    with pytest.raises(ConfigError, match="takes no option.*beam_count.*num_beams"):
        build_encoder("captioner", {"name": "smolvlm-tiny", "beam_count": 2}, "model.captioner")
    captioner = build_encoder("captioner", {"name": "smolvlm-tiny", "num_beams": 2, "batch_size": 3}, "k")
    assert captioner.generate_kwargs["num_beams"] == 2 and captioner.batch_size == 3
    assert captioner.generate_kwargs["max_new_tokens"] == 8 and captioner.model_dtype == torch.float32


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_tiny_captioner_reloads_offline_through_the_real_factory(family, tmp_path, no_network):
    tiny = _tiny(family, seed=2, max_new_tokens=6)
    tiny.model.save_pretrained(tmp_path / family)
    tiny.processor.save_pretrained(tmp_path / family)
    loaded = build_encoder(
        "captioner",
        {"name": family, "pretrained": str(tmp_path / family), "max_new_tokens": 6,
         "generate_kwargs": _no_specials(tiny)},
        "model.captioner",
    )
    assert type(loaded.model) is type(tiny.model) and loaded.prompt == tiny.prompt
    frames = _frames(3, 40, 48, seed=7)
    with torch.inference_mode():
        expected, got = tiny(frames), loaded(frames)
    assert len(got) == 3 and all(isinstance(c, str) and c for c in got)
    assert got == expected
    assert no_network == []


@pytest.mark.parametrize("family", FAMILIES)
def test_captions_are_the_decoded_generate_output_without_the_prompt(family):
    captioner = _tiny(family, max_new_tokens=5)
    frames = _frames(2, 32, 32, seed=1)
    with torch.inference_mode():
        captions = captioner(frames)
        inputs = captioner._to_model(captioner.prepare(frames))
        ids = captioner.model.generate(**inputs, **captioner.generate_kwargs)
    if captioner.decoder_only and family != "blip":  # decoder-only LMs echo the prompt: it is cut
        ids = ids[:, inputs["input_ids"].shape[1]:]
    new_tokens = ids.shape[1] - (0 if family != "blip" else 1)
    assert 3 <= new_tokens <= 5 + (family == "florence2")  # min_new_tokens, max_new_tokens (+ decoder start)
    assert captions == [t.strip() for t in captioner.tokenizer.batch_decode(ids, skip_special_tokens=True)]


def test_blip_prompt_starts_the_caption_and_others_prompt_is_not_echoed():
    frames = _frames(2, 32, 32, seed=3)
    blip = _tiny("blip", prompt="a person", max_new_tokens=4)
    with torch.inference_mode():
        assert all(c.startswith("a person ") for c in blip(frames))
    blip2 = _tiny("blip2", prompt="question : what is happening ? answer :", max_new_tokens=4)
    with torch.inference_mode():
        assert not any(c.startswith("question") for c in blip2(frames))


@pytest.mark.parametrize("family", FAMILIES)
def test_all_frames_in_one_batch_equal_frame_by_frame(family):
    batched = _tiny(family, max_new_tokens=4)
    single = _tiny(family, max_new_tokens=4, batch_size=1)
    frames = _frames(3, 32, 40, seed=5)
    with torch.inference_mode():
        assert batched(frames) == single(frames)
        assert batched(frames[:0]) == []


def test_generation_settings_reach_generate():
    captioner = _tiny("blip2", max_new_tokens=3, num_beams=2, generate_kwargs={"length_penalty": 0.5})
    assert captioner.generate_kwargs["num_beams"] == 2 and captioner.generate_kwargs["length_penalty"] == 0.5
    assert captioner.generate_kwargs["do_sample"] is False
    with torch.inference_mode():
        captions = captioner(_frames(2, 32, 32))
    assert all(len(c.split()) <= 3 for c in captions)
    with pytest.raises(ConfigError, match="must be positive"):
        build_encoder("captioner", {"name": "florence2-tiny", "max_new_tokens": 0}, "k")


@pytest.mark.parametrize("family", FAMILIES)
def test_preprocessing_of_a_known_frame(family):
    """A constant frame of 40 x 48 px becomes the processor's size, normalised with its statistics."""
    captioner = _tiny(family)
    frame = torch.tensor([255, 128, 0], dtype=torch.uint8).expand(1, 40, 48, 3)
    pixels = captioner.prepare(frame)["pixel_values"]
    mean, std = STATS[family]
    expected = (torch.tensor([1.0, 128 / 255, 0.0]) - torch.tensor(mean)) / torch.tensor(std)
    if family == "smolvlm":  # (N, images, 3, H, W) and a mask of the valid (unpadded) pixels
        mask = captioner.prepare(frame)["pixel_attention_mask"][0, 0]
        assert pixels.shape == (1, 1, 3, 32, 32) and mask.shape == (32, 32) and mask.any()
        pixels = pixels[:, 0, :, mask.bool()].mean(-1)
    else:
        assert pixels.shape == (1, 3, 32, 32)
        pixels = pixels[:, :, 5, 7]
    assert torch.allclose(pixels[0], expected, atol=2e-2)


@pytest.mark.parametrize("family", FAMILIES)
def test_missing_weights_are_one_clear_error_and_no_download(family, tmp_path, no_network):
    with pytest.raises(ConfigError) as error:
        build_encoder("captioner", {"name": family}, "model.captioner")
    message = str(error.value)
    assert message.startswith(f"model.captioner: weights '{DEFAULT_IDS[family]}' are neither a local folder nor in the Hugging Face cache")
    assert f"({family}, " in message and str(tmp_path / "hub") in message and f"`hf download {DEFAULT_IDS[family]}`" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=rf"the folder .*empty holds no loadable weights for {family}"):
        build_encoder("captioner", {"name": family, "pretrained": str(empty)}, "model.captioner")
    assert no_network == []


def test_processor_missing_beside_the_weights_is_a_clear_error(tmp_path, no_network):
    tiny = _tiny("blip2")
    tiny.model.save_pretrained(tmp_path / "weights-only")
    with pytest.raises(ConfigError, match="holds no loadable processor for blip2"):
        build_encoder("captioner", {"name": "blip2", "pretrained": str(tmp_path / "weights-only")}, "model.captioner")


@pytest.mark.parametrize("family", ["blip2", "instructblip", "smolvlm"])
def test_half_precision_keeps_float32_parts_and_still_captions(family, monkeypatch):
    captioner = _tiny(family, dtype="bfloat16", max_new_tokens=3)
    monkeypatch.setattr(FrozenEncoder, "compute_dtype", lambda self, device=None: torch.bfloat16)
    captioner.to("cpu")
    assert captioner.model_dtype == torch.bfloat16
    if family == "blip2":  # transformers keeps BLIP-2's Q-Former and query tokens in float32
        assert captioner.model.query_tokens.dtype == torch.float32
        assert next(captioner.model.qformer.parameters()).dtype == torch.float32
    with torch.inference_mode():
        captions = captioner(_frames(2, 32, 32))
    assert len(captions) == 2 and all(isinstance(c, str) for c in captions)


def test_blip_names_and_options_are_kept():
    captioner = build_encoder("captioner", {"name": "blip-tiny", "seed": 1, "image_size": 32, "max_new_tokens": 4}, "k")
    assert captioner.generate_kwargs["max_new_tokens"] == 4 and captioner.prompt == ""
    with torch.inference_mode():
        assert len(captioner(_frames(2, 40, 40))) == 2


def test_only_processors_that_resize_alike_on_the_gpu_get_gpu_frames():
    """BLIP's, BLIP-2's and Florence-2's torchvision processors (bicubic) take GPU frames as
    they are; SmolVLM's resamples with Lanczos, which torchvision has on the CPU only."""
    assert {family: preprocesses_on_gpu(_tiny(family).processor) for family in FAMILIES} == {
        "blip": True, "blip2": True, "instructblip": True, "florence2": True, "smolvlm": False}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("family", FAMILIES)
def test_frames_on_the_gpu_are_preprocessed_there_as_on_the_host(family):
    """GPU frames are resized and normalised on the GPU where the processor can (no trip
    through the host), to the pixels the host's preprocessing gives. Smooth frames: on noise,
    the CPU's uint8 resampling and the GPU's float one differ by a few grey levels."""
    captioner = _tiny(family, dtype="float32").cuda()
    across, down = torch.linspace(0, 1, 48).expand(40, 48), torch.linspace(0, 1, 40)[:, None].expand(40, 48)
    frames = torch.stack([255 * torch.stack([across, 0.5 * down + 0.25 * k, 1 - across], -1)
                          for k in range(3)]).round().to(torch.uint8)
    on_host = captioner.prepare(frames)["pixel_values"]
    on_gpu = captioner.prepare(frames.cuda())["pixel_values"]
    assert on_gpu.device.type == ("cuda" if preprocesses_on_gpu(captioner.processor) else "cpu")
    assert on_gpu.shape == on_host.shape
    assert torch.allclose(on_gpu.cpu().float(), on_host.float(), atol=3e-2)
    assert len(captioner(frames.cuda())) == 3
