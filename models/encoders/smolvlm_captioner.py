"""Captioner: SmolVLM, an instruction-tuned vision-language chat model.

SmolVLM (v1) checkpoints are transformers' Idefics3 architecture (``Idefics3ForConditionalGeneration``), SmolVLM2
ones ``SmolVLMForConditionalGeneration``; both load through the auto classes (SmolVLM2's processor needs the
``num2words`` package). The prompt is the user's instruction, put through the checkpoint's chat template with the
frame; instruction and template are cut from the returned text. ``image_splitting`` (off by default) lets the
processor add high-resolution tiles of each frame, at several times the cost.
"""

from __future__ import annotations

from transformers import (AutoModelForImageTextToText, AutoProcessor, Idefics3Config, Idefics3ForConditionalGeneration,
                          Idefics3ImageProcessor, Idefics3Processor, LlamaConfig)

from lightning_app.errors import ConfigError
from models.encoders.captioner import WHAT, CaptionFamily, load_pretrained, register_captioner
from models.encoders.preprocess import seeded
from models.encoders.tiny_text import TINY_WORDS, chat_template, word_tokenizer

TINY_SPECIALS = ("<|endoftext|>", "<unk>", "<|im_start|>", "<end_of_utterance>", "<image>",
                 "<fake_token_around_image>", "<global-img>")
TINY_CHAT_WORDS = ("User", "Assistant", ":", "describe", "this", "image", "one", "sentence", ".")


class SmolVLMFamily(CaptionFamily):
    default_prompt = "Describe this image in one sentence."

    def __init__(self, image_splitting: bool = False):
        self.image_splitting = bool(image_splitting)

    def inputs(self, processor, images, prompt, **image_options):
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = processor.apply_chat_template(messages, add_generation_prompt=True)
        return processor(images=[[image] for image in images], text=[text] * len(images), padding=True,
                         do_image_splitting=self.image_splitting, return_tensors="pt", **image_options)


@register_captioner("smolvlm-tiny", max_new_tokens=8, dtype="float32")
def smolvlm_tiny(seed: int = 0, image_size: int = 32):
    """A random-initialised SmolVLM (v1 / Idefics3 layout: SigLIP-style vision tower, pixel shuffle by 2, one-layer
    Llama, width 32), in-code vocabulary and chat template."""
    roles = {"pad_token": "<|endoftext|>", "unk_token": "<unk>", "bos_token": "<|im_start|>",
             "eos_token": "<end_of_utterance>"}
    tokenizer = word_tokenizer(
        TINY_SPECIALS, roles, TINY_WORDS + TINY_CHAT_WORDS,
        extra_special_tokens={"image_token": "<image>", "fake_image_token": "<fake_token_around_image>",
                              "global_image_token": "<global-img>", "end_of_utterance_token": "<end_of_utterance>"})
    ids = {k: tokenizer.convert_tokens_to_ids(v) for k, v in roles.items()}
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                       pad_token_id=ids["pad_token"], bos_token_id=ids["bos_token"],
                       eos_token_id=ids["eos_token"]).to_dict()
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
              "image_size": image_size, "patch_size": 8}
    config = Idefics3Config(vision_config=vision, text_config=text, scale_factor=2,
                            image_token_id=tokenizer.convert_tokens_to_ids("<image>"))
    with seeded(seed):
        model = Idefics3ForConditionalGeneration(config)
    image_processor = Idefics3ImageProcessor(size={"longest_edge": image_size},
                                             max_image_size={"longest_edge": image_size}, do_image_splitting=False)
    # image tokens per frame: (image_size / patch)^2 patches merged 2 x 2 by the pixel shuffle
    processor = Idefics3Processor(image_processor, tokenizer, image_seq_len=(image_size // 8) ** 2 // 4,
                                  chat_template=chat_template())
    return model, processor, SmolVLMFamily()


def _load_processor(path: str, **kw):
    try:
        return AutoProcessor.from_pretrained(path, **kw)
    except ImportError as exc:  # SmolVLM2's processor imports num2words
        raise ConfigError(f"{WHAT}: the smolvlm processor needs a missing package ({exc}); "
                          "pip install num2words") from exc


@register_captioner("smolvlm", max_new_tokens=30)
def smolvlm(pretrained: str = "HuggingFaceTB/SmolVLM-256M-Instruct", image_splitting: bool = False,
            allow_download: bool = False):
    """Pretrained SmolVLM / SmolVLM2 from a local folder or the Hugging Face cache (offline)."""
    return *load_pretrained(pretrained, AutoModelForImageTextToText.from_pretrained, _load_processor,
                            "smolvlm, Idefics3ForConditionalGeneration / SmolVLMForConditionalGeneration",
                            allow_download), SmolVLMFamily(image_splitting)
