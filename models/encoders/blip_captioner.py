"""Captioner for the text stream: a transformers BLIP model writes one sentence per frame."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from torch import nn
from transformers import (
    AutoProcessor,
    BlipConfig,
    BlipForConditionalGeneration,
    PreTrainedTokenizerFast,
)

from models.encoders.preprocess import CLIP_MEAN, CLIP_STD, frames_to_tensor, seeded
from models.encoders.registry import register
from models.encoders.weights import load_offline

# The in-code vocabulary of the tiny captioner: the special tokens first, at fixed ids.
TINY_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[SEP]")
TINY_WORDS = (
    "a person people is are running fighting walking standing hitting pushing falling in on the a "
    "room street car park crowd light dark fast slow near far with and of bright moving still"
).split()


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    words = list(dict.fromkeys(TINY_SPECIAL_TOKENS + tuple(TINY_WORDS)))
    backend = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        bos_token="[BOS]",
        sep_token="[SEP]",
        eos_token="[SEP]",
    )


class BlipCaptioner(nn.Module):
    """(N, H, W, 3) uint8 frames -> N captions, greedy decoding (deterministic)."""

    def __init__(self, model: BlipForConditionalGeneration, tokenizer, image_size: int, max_new_tokens: int, prompt: str = ""):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.image_size = int(image_size)
        self.max_new_tokens = int(max_new_tokens)
        self.prompt = prompt

    def forward(self, frames: torch.Tensor) -> list[str]:
        pixels = frames_to_tensor(frames, self.image_size, CLIP_MEAN, CLIP_STD).to(self.model.dtype)
        kwargs = {}
        if self.prompt:
            prompt = self.tokenizer([self.prompt] * len(frames), return_tensors="pt", add_special_tokens=False)
            kwargs["input_ids"] = prompt.input_ids.to(pixels.device)
        ids = self.model.generate(pixel_values=pixels, max_new_tokens=self.max_new_tokens, do_sample=False, **kwargs)
        return [text.strip() for text in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]


@register("captioner", "blip-tiny")
def blip_tiny(seed: int = 0, image_size: int = 32, max_new_tokens: int = 8) -> BlipCaptioner:
    """A random-initialised BLIP with a 40-word in-code vocabulary, for tests and the demo."""
    tokenizer = tiny_tokenizer()
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in
           (("pad", "[PAD]"), ("bos", "[BOS]"), ("sep", "[SEP]"))}
    config = BlipConfig(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": image_size, "patch_size": 8},
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 32,
                     "bos_token_id": ids["bos"], "sep_token_id": ids["sep"],
                     "pad_token_id": ids["pad"], "eos_token_id": ids["sep"]},
    )
    with seeded(seed):
        model = BlipForConditionalGeneration(config)
    return BlipCaptioner(model.eval(), tokenizer, image_size, max_new_tokens)


@register("captioner", "blip")
def blip(pretrained: str = "Salesforce/blip-image-captioning-base", max_new_tokens: int = 20, prompt: str = "") -> BlipCaptioner:
    """Pretrained BLIP captioning model from a local folder or the Hugging Face cache (offline)."""
    model = load_offline("model.captioner", pretrained, BlipForConditionalGeneration.from_pretrained)
    processor = load_offline("model.captioner", pretrained, AutoProcessor.from_pretrained)
    return BlipCaptioner(model.eval(), processor.tokenizer, model.config.vision_config.image_size, max_new_tokens, prompt)
