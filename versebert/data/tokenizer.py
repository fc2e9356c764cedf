"""WordPiece tokenizers for VerseBERT: train one on verse texts, or load any BERT tokenizer.

A trained tokenizer is a ``tokenizers`` WordPiece model with BERT's normalizer, pre-tokenizer and
``[CLS] A [SEP]`` post-processor, wrapped as :class:`transformers.BertTokenizerFast` so that it
saves as a ``BertTokenizer`` (a plain ``PreTrainedTokenizerFast`` would save as
``TokenizersBackend``, which older tools cannot load) and ``AutoTokenizer.from_pretrained`` loads
it. Its special tokens have fixed ids, [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4, copied into
the model config by :func:`special_token_ids`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path

from ..errors import UserError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""In id order: training puts them first, so [PAD] is 0 … [MASK] is 4."""

_SPECIAL_NAMES = ("pad", "unk", "cls", "sep", "mask")


def train_wordpiece_tokenizer(
    texts: Iterable[str],
    *,
    vocab_size: int = 16000,
    output_dir: str | Path,
    lowercase: bool = True,
    model_max_length: int = 512,
    min_frequency: int = 2,
):
    """Train a WordPiece vocabulary on ``texts``, save it to ``output_dir`` and return it.

    ``lowercase`` also strips accents (BERT "uncased"), so "Cæsar" and "Caesar" share pieces.
    ``model_max_length`` is what the tokenizer truncates to when asked; it should not exceed the
    model's ``max_position_embeddings``. Training is deterministic: the same texts give the same
    vocabulary and ids in every run (see :func:`_continuation_tokens`).
    """
    from tokenizers import Tokenizer, models, normalizers, processors, trainers
    from transformers import BertTokenizerFast

    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}")
    if model_max_length < 2:
        raise ValueError(f"model_max_length must leave room for [CLS] and [SEP], got {model_max_length}")
    texts = list(texts)
    if not any(text.strip() for text in texts):
        raise UserError("cannot train a tokenizer on no text")

    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=lowercase, lowercase=lowercase
    )
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[*SPECIAL_TOKENS, *_continuation_tokens(texts, normalizer)],
        continuing_subword_prefix="##",
        show_progress=True,
    )
    learner = _pipeline(Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##")), normalizer)
    learner.train_from_iterator(texts, trainer=trainer, length=len(texts))

    # Rebuild from the learned vocabulary so that only the five real special tokens are special.
    vocabulary = learner.get_vocab()
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        if vocabulary.get(token) != expected_id:  # guards against a tokenizers change
            raise RuntimeError(f"{token} got id {vocabulary.get(token)}, expected {expected_id}")
    tokenizer = _pipeline(
        Tokenizer(models.WordPiece(vocabulary, unk_token="[UNK]", continuing_subword_prefix="##")), normalizer
    )
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", SPECIAL_TOKENS.index("[CLS]")), ("[SEP]", SPECIAL_TOKENS.index("[SEP]"))],
    )

    wrapped = BertTokenizerFast(
        tokenizer_object=tokenizer,
        do_lower_case=lowercase,
        strip_accents=lowercase,
        model_max_length=model_max_length,
        **{f"{name}_token": token for name, token in zip(_SPECIAL_NAMES, SPECIAL_TOKENS, strict=True)},
    )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(str(output_dir))
    return wrapped


def _pipeline(tokenizer, normalizer):
    from tokenizers import decoders, pre_tokenizers

    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer


def _continuation_tokens(texts: list[str], normalizer) -> list[str]:
    """``##c`` for every character that can continue a word, sorted.

    The WordPiece trainer of ``tokenizers`` (0.23) creates these tokens lazily while iterating a
    hash map, so their ids, and through them the choice between equally frequent merges, change
    from run to run (huggingface/tokenizers#1794). Declaring them up front, in sorted order, makes
    training deterministic.
    """
    characters = set(normalizer.normalize_str("\n".join(texts)))
    return [f"##{c}" for c in sorted(characters) if not c.isspace() and not _is_punctuation(c)]


def _is_punctuation(character: str) -> bool:
    """What BERT's pre-tokenizer splits off as punctuation (ASCII symbols and Unicode P*)."""
    return (character.isascii() and not character.isalnum()) or unicodedata.category(character).startswith("P")


def load_tokenizer(path: str | Path):
    """Load a BERT-style tokenizer from a directory (ours, or e.g. all-MiniLM-L6-v2's).

    Raises :class:`UserError` if the directory does not exist or the tokenizer lacks one of the
    special tokens masked-language modeling needs.
    """
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise UserError(f"tokenizer directory {str(path)!r} does not exist")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot load a tokenizer from {str(path)!r}: {error}") from error
    special_token_ids(tokenizer)  # validates
    return tokenizer


def special_token_ids(tokenizer) -> dict[str, int]:
    """``{"pad_token_id": 0, "unk_token_id": 1, ...}`` for the model config."""
    ids = {}
    for name in _SPECIAL_NAMES:
        token_id = getattr(tokenizer, f"{name}_token_id", None)
        if token_id is None:
            raise UserError(
                f"the tokenizer has no {name} token; VerseBERT needs {', '.join(SPECIAL_TOKENS)} (or equivalents)"
            )
        ids[f"{name}_token_id"] = int(token_id)
    return ids
