"""In-code word-level tokenizers for the random tiny captioners (nothing to download)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

# A small caption vocabulary shared by the tiny captioners.
TINY_WORDS = tuple(("a person people is are running fighting walking standing hitting pushing falling in on the a "
                    "room street car park crowd light dark fast slow near far with and of bright moving still").split())


def word_tokenizer(specials: Sequence[str], roles: Mapping[str, str], words: Sequence[str] = TINY_WORDS,
                   extra_special_tokens: Mapping[str, str] | None = None,
                   wrap: tuple[str, str] | None = None) -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer: ``specials`` first (ids 0, 1, ...), then ``words``.

    ``roles`` maps tokenizer roles (``pad_token``, ``unk_token``, ``bos_token``, ...) to special tokens;
    ``extra_special_tokens`` names more (e.g. ``image_token``); ``wrap``, (first, last), adds those tokens around
    every encoded text, as BERT adds [CLS] / [SEP].
    """
    vocab = list(dict.fromkeys([*specials, *words]))
    backend = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(vocab)}, unk_token=roles["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if wrap is not None:
        first, last = wrap
        backend.post_processor = processors.TemplateProcessing(
            single=f"{first} $A {last}", special_tokens=[(first, vocab.index(first)), (last, vocab.index(last))])
    kwargs = dict(roles)
    if extra_special_tokens:
        kwargs["extra_special_tokens"] = dict(extra_special_tokens)
    return PreTrainedTokenizerFast(tokenizer_object=backend, **kwargs)


def chat_template() -> str:
    """The tiny chat captioner's chat template: ``User:<image> prompt<end_of_utterance>`` then ``Assistant:``."""
    return (
        "{% for message in messages %}{{ message['role'] | capitalize }}:"
        "{% for part in message['content'] %}"
        "{% if part['type'] == 'image' %}<image>{% else %} {{ part['text'] }}{% endif %}"
        "{% endfor %}<end_of_utterance>\n{% endfor %}"
        "{% if add_generation_prompt %}Assistant:{% endif %}"
    )
