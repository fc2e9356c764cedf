"""The masked-language-modeling corpus: cleaned verses of several translations, tokenized once.

Every verse of every chosen translation is one training sequence ``[CLS] … [SEP]``, truncated to
``max_length`` but neither padded nor masked: padding happens per batch (length-grouped batches
waste little) and masking per batch too, so every epoch sees new masks.

Held-out data is held out *by verse id*: the validation split takes whole verse ids, in every
translation, so the model is never validated on a verse it read in another wording. Identical
sequences are kept once (the same text under two ids, or two translations agreeing word for
word — KJV and WBS often do, and a lowercasing tokenizer also merges "LORD" and "Lord"), and a
training sequence identical to a validation one is dropped from training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

logger = logging.getLogger(__name__)

_TOKENIZE_BATCH = 2048


@dataclass(frozen=True)
class CorpusRow:
    """One verse of one translation on its way into the corpus."""

    verse_id: int
    translation: str
    text: str


def is_validation_verse(verse_id: int, *, fraction: float, seed: int) -> bool:
    """Whether ``verse_id`` belongs to the validation split for this seed.

    A hash of (seed, verse id) rather than a shuffled list, so a verse's split does not depend
    on which translations or verses are included, and is the same in every process.
    """
    digest = hashlib.blake2b(f"{seed}:{verse_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < fraction


def tokenizer_fingerprint(tokenizer) -> str:
    """SHA-256 of what a tokenizer does: its full serialised pipeline (or vocabulary)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    if backend is not None:
        # Calls set truncation/padding on the backend as a side effect; they are not its identity.
        pipeline = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
        digest.update(json.dumps(pipeline, sort_keys=True).encode())
    else:
        digest.update(repr(sorted(tokenizer.get_vocab().items())).encode())
        digest.update(repr(sorted(tokenizer.init_kwargs.items())).encode())
    return digest.hexdigest()


def _load_rows(translations: Sequence[str], *, drop_quotes: bool, exclude_flagged: bool) -> list[CorpusRow]:
    from .bible import load_verses
    from .validation import exclude_flagged as without_flagged

    rows = []
    for code in translations:
        verses = {verse.verse_id: verse for verse in load_verses(code, drop_quotes=drop_quotes)}
        if exclude_flagged:
            verses = without_flagged(code, verses)
        rows.extend(CorpusRow(verse.verse_id, verse.translation, verse.text) for verse in verses.values())
    return rows


def _tokenize(tokenizer, texts: list[str], max_length: int | None) -> list[list[int]]:
    """Token ids with [CLS] and [SEP], truncated to ``max_length`` unless it is None."""
    from tqdm.auto import tqdm

    ids: list[list[int]] = []
    for start in tqdm(range(0, len(texts), _TOKENIZE_BATCH), desc="Tokenizing", unit="batch", leave=False):
        batch = texts[start : start + _TOKENIZE_BATCH]
        encoded = tokenizer(
            batch,
            truncation=max_length is not None,
            max_length=max_length,
            add_special_tokens=True,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        ids.extend(encoded["input_ids"])
    return ids


def _dataset(rows: list[tuple[CorpusRow, list[int]]]):
    import datasets

    from .bible import dataset_from_columns

    features = datasets.Features(
        {
            "verse_id": datasets.Value("int64"),
            "translation": datasets.Value("string"),
            "text": datasets.Value("string"),
            "input_ids": datasets.List(datasets.Value("int32")),
            "length": datasets.Value("int32"),
        }
    )
    columns = {
        "verse_id": [row.verse_id for row, _ in rows],
        "translation": [row.translation for row, _ in rows],
        "text": [row.text for row, _ in rows],
        "input_ids": [ids for _, ids in rows],
        "length": [len(ids) for _, ids in rows],
    }
    return dataset_from_columns(columns, features)


def split_and_deduplicate(
    rows: Sequence[CorpusRow], token_ids: Sequence[list[int]], *, validation_fraction: float, seed: int
) -> tuple[list[tuple[CorpusRow, list[int]]], list[tuple[CorpusRow, list[int]]]]:
    """Split ``rows`` by verse id, keep each token sequence once, drop training copies of
    validation sequences. Order is preserved, so the first translation's copy is the one kept."""
    train, validation = [], []
    for row, ids in zip(rows, token_ids, strict=True):
        split = validation if is_validation_verse(row.verse_id, fraction=validation_fraction, seed=seed) else train
        split.append((row, ids))
    validation = _unique(validation, set())
    train = _unique(train, {tuple(ids) for _, ids in validation})
    return train, validation


def _unique(pairs: list[tuple[CorpusRow, list[int]]], seen: set[tuple[int, ...]]) -> list[tuple[CorpusRow, list[int]]]:
    kept = []
    for row, ids in pairs:
        key = tuple(ids)
        if key not in seen:
            seen.add(key)
            kept.append((row, ids))
    return kept


def build_mlm_corpus(
    tokenizer,
    translations: Sequence[str],
    *,
    max_length: int,
    validation_fraction: float = 0.02,
    seed: int,
    drop_quotes: bool = False,
    exclude_flagged: bool = True,
    cache_dir: str | Path | None = None,
):
    """Tokenized MLM corpus as a ``datasets.DatasetDict`` with ``train`` and ``validation``.

    Columns: ``verse_id``, ``translation``, ``text`` (cleaned), ``input_ids`` (``[CLS] … [SEP]``,
    at most ``max_length`` ids, unpadded, unmasked) and ``length`` (number of ids, for
    length-grouped batches). ``exclude_flagged`` leaves out the verses the alignment check
    flagged (:func:`versebert.data.validation.exclude_flagged`): for MLM a misplaced
    verse is still English, but it would put the same verse id into both splits' texts.

    The result is cached under ``cache_dir`` (default: the ``mlm`` folder of the data cache),
    keyed by these settings, the tokenizer's pipeline, the translation packages and the source of
    the data modules; a second call with the same inputs loads it from disk.
    """
    import datasets

    from . import bible, cleaning, validation
    from .cache import cache_dir as default_cache_dir
    from .cache import fingerprint, save_directory_atomically

    if max_length < 2:
        raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    codes = list(dict.fromkeys(bible.translation_info(code).code for code in translations))
    if not codes:
        raise UserError("the MLM corpus needs at least one translation")

    settings = {
        "translations": codes,
        "max_length": max_length,
        "validation_fraction": validation_fraction,
        "seed": seed,
        "drop_quotes": drop_quotes,
        "exclude_flagged": exclude_flagged,
        "tokenizer": tokenizer_fingerprint(tokenizer),
    }
    # Flags depend on every installed translation (they are each other's references).
    packages = [bible.TRANSLATIONS[code].package for code in bible.installed_translations()]
    key = fingerprint(
        settings,
        modules=(bible, cleaning, validation, sys.modules[__name__]),
        packages=("pythonbible", *packages),
    )
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir("mlm")
    path = path / f"mlm-corpus-{key}"
    if path.is_dir():
        logger.info("MLM corpus: loading cached %s", path)
        return datasets.load_from_disk(str(path))

    rows = _load_rows(codes, drop_quotes=drop_quotes, exclude_flagged=exclude_flagged)
    unique_texts = list(dict.fromkeys(row.text for row in rows))  # tokenize each text once
    ids_by_text = dict(zip(unique_texts, _tokenize(tokenizer, unique_texts, max_length), strict=True))
    train, held_out = split_and_deduplicate(
        rows, [ids_by_text[row.text] for row in rows], validation_fraction=validation_fraction, seed=seed
    )
    splits = {"train": _dataset(train)}
    if validation_fraction > 0:
        splits["validation"] = _dataset(held_out)
    corpus = datasets.DatasetDict(splits)
    logger.info(
        "MLM corpus from %s: %d verses, %d train and %d validation sequences after deduplication",
        ", ".join(codes),
        len(rows),
        len(train),
        len(held_out),
    )
    save_directory_atomically(path, lambda directory: corpus.save_to_disk(str(directory)))
    return datasets.load_from_disk(str(path))


# ---------------------------------------------------------------------------------------------
# Token lengths


@dataclass(frozen=True)
class TokenLengthStats:
    """Token counts (with [CLS] and [SEP]) of one translation's cleaned verses."""

    translation: str
    verses: int
    max: int
    p99: float
    p999: float
    mean: float
    max_length: int
    truncated: int

    @property
    def truncation_rate(self) -> float:
        return self.truncated / self.verses if self.verses else 0.0


def token_length_report(tokenizer, translations: Sequence[str], max_length: int) -> dict[str, TokenLengthStats]:
    """Token-length statistics per translation, and how many verses ``max_length`` truncates.

    Computed without truncation, so ``max`` is the true longest verse. The ``"ALL"`` entry pools
    every translation.
    """
    from .bible import load_verses, translation_info

    if max_length < 2:
        raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
    report = {}
    pooled = []
    for code in translations:
        info = translation_info(code)
        texts = [verse.text for verse in load_verses(info.code)]
        lengths = np.array([len(ids) for ids in _tokenize(tokenizer, texts, max_length=None)])
        pooled.append(lengths)
        report[info.code] = _stats(info.code, lengths, max_length)
    if len(pooled) > 1:
        report["ALL"] = _stats("ALL", np.concatenate(pooled), max_length)
    return report


def _stats(name: str, lengths: np.ndarray, max_length: int) -> TokenLengthStats:
    return TokenLengthStats(
        translation=name,
        verses=int(lengths.size),
        max=int(lengths.max()),
        p99=float(np.percentile(lengths, 99)),
        p999=float(np.percentile(lengths, 99.9)),
        mean=round(float(lengths.mean()), 2),
        max_length=max_length,
        truncated=int((lengths > max_length).sum()),
    )
