"""Random-initialised encoders of the paper's real sizes, saved where the real weights would be.

Speed does not depend on trained weights, so a machine with no weights (and no network) can
still time the real architectures: this writes a VideoPrism-B (transformers' default
``VideoPrismVisionConfig``: 768-d, 12 spatial + 4 temporal layers, 288 px, 16 frames), an
open_clip ViT-B-16 and a BLIP-base captioner (``BlipConfig``'s defaults: 384 px, a BERT-base
decoder with a 30524-token vocabulary) to a folder, and returns the encoder specs that load
them through the normal registry (``videoprism`` / ``open_clip`` / ``blip`` with
``pretrained`` set to the saved paths). BLIP's tokenizer is a word-level one with made-up
words of the real vocabulary's size: captions are nonsense, but as long as real ones.

``small=True`` writes the same classes at a few thousand parameters, for tests on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

VOCAB_SIZE = 30524  # BLIP-base's text vocabulary


def _save_videoprism(folder: Path, small: bool) -> dict:
    from transformers import VideoPrismVisionConfig, VideoPrismVisionModel

    sizes = dict(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_spatial_layers=1,
                 num_temporal_layers=1, num_auxiliary_layers=0, image_size=32, tubelet_size=[1, 8, 8]) if small else {}
    VideoPrismVisionModel(VideoPrismVisionConfig(**sizes)).save_pretrained(folder)
    return {"name": "videoprism", "pretrained": str(folder)}


def _save_clip(folder: Path, small: bool) -> dict:
    """open_clip's ``local-dir:`` layout: the architecture, preprocessing and weights in one folder."""
    import open_clip

    config = open_clip.get_model_config("ViT-B-16")
    if small:
        config = {"embed_dim": 32,
                  "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
                  "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    model = open_clip.CLIP(**config)
    folder.mkdir(parents=True, exist_ok=True)
    preprocess = {"size": config["vision_cfg"]["image_size"], "mean": list(open_clip.OPENAI_DATASET_MEAN),
                  "std": list(open_clip.OPENAI_DATASET_STD)}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config, "preprocess_cfg": preprocess}))
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    return {"name": "open_clip", "pretrained": str(folder)}


def _save_blip(folder: Path, small: bool) -> dict:
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    from models.encoders.blip_captioner import TINY_SPECIAL_TOKENS
    from models.encoders.tiny_text import word_tokenizer

    words = [f"w{i}" for i in range((64 if small else VOCAB_SIZE) - len(TINY_SPECIAL_TOKENS))]
    tokenizer = word_tokenizer(
        TINY_SPECIAL_TOKENS,
        {"pad_token": "[PAD]", "unk_token": "[UNK]", "bos_token": "[BOS]", "sep_token": "[SEP]", "eos_token": "[SEP]"},
        words, wrap=("[BOS]", "[SEP]"),
    )
    ids = {role: tokenizer.convert_tokens_to_ids(token) for role, token in
           (("bos_token_id", "[BOS]"), ("sep_token_id", "[SEP]"), ("pad_token_id", "[PAD]"), ("eos_token_id", "[SEP]"))}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
              "image_size": 32, "patch_size": 8} if small else {}
    text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "max_position_embeddings": 32} if small else {}
    config = BlipConfig(vision_config=vision, text_config={"vocab_size": len(tokenizer), **text, **ids})
    BlipForConditionalGeneration(config).save_pretrained(folder)
    image_size = config.vision_config.image_size
    BlipProcessor(BlipImageProcessor(size={"height": image_size, "width": image_size}), tokenizer).save_pretrained(folder)
    return {"name": "blip", "pretrained": str(folder)}


def save_random_encoders(folder: str | Path, small: bool = False, seed: int = 0) -> dict[str, dict]:
    """Write the three encoders under ``folder``; returns their specs by role
    (``video``, ``clip``, ``captioner``), as ``model.video_encoder`` etc. take them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    return {"video": _save_videoprism(folder / "videoprism", small),
            "clip": _save_clip(folder / "clip-vit-b-16", small),
            "captioner": _save_blip(folder / "blip", small)}
