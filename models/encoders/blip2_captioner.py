"""Captioners with a Q-Former in front of a language model: transformers' BLIP-2
(``Blip2ForConditionalGeneration``) and InstructBLIP (``InstructBlipForConditionalGeneration``).

BLIP-2 captions with no prompt by default; its prompt is a text prefix for the language model (``Question: what is
happening? Answer:``). InstructBLIP gets an instruction (default ``A short image caption:``), which its Q-Former
reads too. With a decoder-only language model (OPT, Vicuna) the prompt is cut from the returned text; Flan-T5
returns only new text anyway.
"""

from __future__ import annotations

from transformers import (AutoProcessor, Blip2Config, Blip2ForConditionalGeneration, Blip2Processor,
                          BlipImageProcessor, InstructBlipConfig, InstructBlipForConditionalGeneration,
                          InstructBlipProcessor, OPTConfig)

from models.encoders.captioner import CaptionFamily, load_pretrained, register_captioner
from models.encoders.preprocess import seeded
from models.encoders.tiny_text import TINY_WORDS, word_tokenizer

TINY_SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")
PROMPT_WORDS = ("a", "short", "image", "caption", ":", "question", "answer", "what", "is", "happening", "?")
TINY_ROLES = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}


class InstructBlipFamily(CaptionFamily):
    default_prompt = "A short image caption:"


def _tiny_parts(image_size: int, num_query_tokens: int, make_processor):
    """The shared tiny pieces; ``make_processor(image_processor, tokenizer)`` builds the family's processor first,
    as it adds the ``<image>`` token to the tokenizer."""
    tokenizer = word_tokenizer(TINY_SPECIALS, TINY_ROLES, TINY_WORDS + PROMPT_WORDS)
    processor = make_processor(BlipImageProcessor(size={"height": image_size, "width": image_size}), tokenizer)
    ids = {k: tokenizer.convert_tokens_to_ids(v) for k, v in TINY_ROLES.items() if k != "unk_token"}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
              "image_size": image_size, "patch_size": 8}
    qformer = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
               "encoder_hidden_size": 32, "max_position_embeddings": 64}
    text = OPTConfig(vocab_size=len(tokenizer), hidden_size=32, ffn_dim=64, num_hidden_layers=1, num_attention_heads=2,
                     word_embed_proj_dim=32, max_position_embeddings=128, pad_token_id=ids["pad_token"],
                     bos_token_id=ids["bos_token"], eos_token_id=ids["eos_token"]).to_dict()
    common = {"num_query_tokens": num_query_tokens, "image_token_index": tokenizer.convert_tokens_to_ids("<image>")}
    return processor, vision, qformer, text, common


@register_captioner("blip2-tiny", max_new_tokens=8, dtype="float32")
def blip2_tiny(seed: int = 0, image_size: int = 32, num_query_tokens: int = 4):
    """A random-initialised BLIP-2 (ViT + Q-Former + OPT, one layer each, width 32), in-code vocabulary."""
    processor, vision, qformer, text, common = _tiny_parts(
        image_size, num_query_tokens, lambda images, tokenizer: Blip2Processor(images, tokenizer, num_query_tokens))
    config = Blip2Config(vision_config=vision, qformer_config={**qformer, "vocab_size": len(processor.tokenizer)},
                         text_config=text, **common)
    with seeded(seed):
        model = Blip2ForConditionalGeneration(config)
    return model, processor, CaptionFamily()


@register_captioner("blip2")
def blip2(pretrained: str = "Salesforce/blip2-opt-2.7b", allow_download: bool = False):
    """Pretrained BLIP-2 from a local folder or the Hugging Face cache (offline)."""
    return *load_pretrained(pretrained, Blip2ForConditionalGeneration.from_pretrained, AutoProcessor.from_pretrained,
                            "blip2, Blip2ForConditionalGeneration", allow_download), CaptionFamily()


@register_captioner("instructblip-tiny", max_new_tokens=8, dtype="float32")
def instructblip_tiny(seed: int = 0, image_size: int = 32, num_query_tokens: int = 4):
    """A random-initialised InstructBLIP (ViT + Q-Former + OPT, one layer each, width 32), in-code vocabularies."""
    qformer_tokenizer = word_tokenizer(("[PAD]", "[UNK]", "[CLS]", "[SEP]"),
                                       {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
                                        "sep_token": "[SEP]"}, wrap=("[CLS]", "[SEP]"))
    processor, vision, qformer, text, common = _tiny_parts(
        image_size, num_query_tokens,
        lambda images, tokenizer: InstructBlipProcessor(images, tokenizer, qformer_tokenizer, num_query_tokens))
    config = InstructBlipConfig(vision_config=vision, qformer_config={**qformer, "vocab_size": len(qformer_tokenizer)},
                                text_config=text, **common)
    with seeded(seed):
        model = InstructBlipForConditionalGeneration(config)
    return model, processor, InstructBlipFamily()


@register_captioner("instructblip")
def instructblip(pretrained: str = "Salesforce/instructblip-flan-t5-xl", allow_download: bool = False):
    """Pretrained InstructBLIP from a local folder or the Hugging Face cache (offline)."""
    return *load_pretrained(pretrained, InstructBlipForConditionalGeneration.from_pretrained,
                            AutoProcessor.from_pretrained, "instructblip, InstructBlipForConditionalGeneration",
                            allow_download), InstructBlipFamily()
