"""Captioner: transformers' Florence-2 (``Florence2ForConditionalGeneration``, native in transformers 5; the
checkpoints converted for it are the ``florence-community/Florence-2-*`` ones). It is prompted with a task token:
``<CAPTION>`` (default), ``<DETAILED_CAPTION>`` or ``<MORE_DETAILED_CAPTION>``, which its processor turns into the
task's question.
"""

from __future__ import annotations

from transformers import (AutoProcessor, BartConfig, CLIPImageProcessor, Florence2Config,
                          Florence2ForConditionalGeneration, Florence2Processor)

from models.encoders.captioner import CaptionFamily, load_pretrained, register_captioner
from models.encoders.preprocess import IMAGENET_MEAN, IMAGENET_STD, seeded
from models.encoders.tiny_text import TINY_WORDS, word_tokenizer

TINY_ROLES = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
TASK_WORDS = ("what", "does", "the", "image", "describe", "?", "in", "detail", "is", "shown")


class Florence2Family(CaptionFamily):
    default_prompt = "<CAPTION>"


@register_captioner("florence2-tiny", max_new_tokens=8, dtype="float32")
def florence2_tiny(seed: int = 0, image_size: int = 32):
    """A random-initialised Florence-2 (two DaViT stages, one-layer BART, width 32), in-code vocabulary."""
    tokenizer = word_tokenizer(("<pad>", "<unk>", "<s>", "</s>", "<image>"), TINY_ROLES, TINY_WORDS + TASK_WORDS,
                               extra_special_tokens={"image_token": "<image>"})
    ids = {k: tokenizer.convert_tokens_to_ids(v) for k, v in TINY_ROLES.items()}
    vision = {"depths": [1, 1], "patch_size": [7, 3], "patch_stride": [4, 2], "patch_padding": [3, 1],
              "patch_prenorm": [False, True], "embed_dim": [16, 32], "num_heads": [2, 2], "num_groups": [2, 2],
              "window_size": 2, "projection_dim": 32, "drop_path_rate": 0.0}
    text = BartConfig(vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,
                      encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                      max_position_embeddings=128, pad_token_id=ids["pad_token"], bos_token_id=ids["bos_token"],
                      eos_token_id=ids["eos_token"], decoder_start_token_id=ids["eos_token"],
                      forced_bos_token_id=None, forced_eos_token_id=ids["eos_token"]).to_dict()
    config = Florence2Config(vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id)
    with seeded(seed):
        model = Florence2ForConditionalGeneration(config)
    # The vision tower downsamples by 4 * 2: (image_size / 8)^2 tokens, plus one pooled token.
    image_processor = CLIPImageProcessor(size={"height": image_size, "width": image_size}, do_center_crop=False,
                                         image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD),
                                         image_seq_length=(image_size // 8) ** 2 + 1)
    processor = Florence2Processor(image_processor=image_processor, tokenizer=tokenizer)
    return model, processor, Florence2Family()


@register_captioner("florence2")
def florence2(pretrained: str = "florence-community/Florence-2-base", allow_download: bool = False):
    """Pretrained Florence-2 from a local folder or the Hugging Face cache (offline)."""
    return *load_pretrained(pretrained, Florence2ForConditionalGeneration.from_pretrained,
                            AutoProcessor.from_pretrained, "florence2, Florence2ForConditionalGeneration",
                            allow_download), Florence2Family()
