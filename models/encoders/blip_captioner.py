"""Captioner: transformers' BLIP (``BlipForConditionalGeneration``). Its ``prompt`` is conditional captioning: the
caption starts with it (e.g. ``a picture of``) and it stays in the returned caption, as BLIP was trained."""

from __future__ import annotations

from transformers import AutoProcessor, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

from models.encoders.captioner import CaptionFamily, load_pretrained, register_captioner
from models.encoders.preprocess import seeded
from models.encoders.tiny_text import TINY_WORDS, word_tokenizer

# The in-code vocabulary of the tiny captioner: the special tokens first, at fixed ids.
TINY_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[SEP]")


def tiny_tokenizer():
    """BERT-like: every text is wrapped in [BOS] ... [SEP] (BLIP swaps the first for its own BOS)."""
    return word_tokenizer(
        TINY_SPECIAL_TOKENS,
        {"pad_token": "[PAD]", "unk_token": "[UNK]", "bos_token": "[BOS]", "sep_token": "[SEP]", "eos_token": "[SEP]"},
        TINY_WORDS, wrap=("[BOS]", "[SEP]"))


class BlipFamily(CaptionFamily):
    keeps_prompt = True

    def inputs(self, processor, images, prompt, **image_options):
        if not prompt:
            return processor(images=images, return_tensors="pt", **image_options)
        return processor(images=images, text=[prompt] * len(images), return_tensors="pt", **image_options)


@register_captioner("blip-tiny", max_new_tokens=8, dtype="float32")
def blip_tiny(seed: int = 0, image_size: int = 32):
    """A random-initialised BLIP with a small in-code vocabulary, for tests and the demo."""
    tokenizer = tiny_tokenizer()
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in
           (("pad", "[PAD]"), ("bos", "[BOS]"), ("sep", "[SEP]"))}
    config = BlipConfig(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": image_size, "patch_size": 8},
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 32, "bos_token_id": ids["bos"],
                     "sep_token_id": ids["sep"], "pad_token_id": ids["pad"], "eos_token_id": ids["sep"]})
    with seeded(seed):
        model = BlipForConditionalGeneration(config)
    processor = BlipProcessor(BlipImageProcessor(size={"height": image_size, "width": image_size}), tokenizer)
    return model, processor, BlipFamily()


@register_captioner("blip")
def blip(pretrained: str = "Salesforce/blip-image-captioning-base", allow_download: bool = False):
    """Pretrained BLIP captioning model from a local folder or the Hugging Face cache (offline)."""
    return *load_pretrained(pretrained, BlipForConditionalGeneration.from_pretrained, AutoProcessor.from_pretrained,
                            "blip, BlipForConditionalGeneration", allow_download), BlipFamily()
