"""MLM corpus: split by verse id, deduplication, tokenization, caching; token-length statistics."""

from __future__ import annotations

import pytest

from versebert.data import bible, mlm_corpus
from versebert.data.bible import Verse, canonical_verse_ids, read_package
from versebert.data.cleaning import clean_text
from versebert.data.mlm_corpus import (
    CorpusRow,
    build_mlm_corpus,
    is_validation_verse,
    split_and_deduplicate,
    token_length_report,
)
from versebert.data.tokenizer import load_tokenizer

RUTH, JONAH = 8, 32


def few_books(code: str, *, drop_quotes: bool = False) -> list[Verse]:
    """Real cleaned verses of Ruth and Jonah, standing in for a whole translation."""
    verses = []
    for verse_id, raw in read_package(code).texts.items():
        if verse_id // 1_000_000 in (RUTH, JONAH):
            _, chapter, verse = bible.split_verse_id(verse_id)
            text = clean_text(raw, drop_quotes=drop_quotes)
            verses.append(Verse(verse_id, bible.book_name(verse_id), chapter, verse, code, text, raw))
    return verses


@pytest.fixture
def small_corpus(monkeypatch, tmp_path):
    """``build_mlm_corpus`` over Ruth and Jonah of KJV, WBS and WEB, cached in a temporary dir."""
    monkeypatch.setattr(bible, "load_verses", lambda code, **kwargs: few_books(bible.translation_info(code).code))

    def build(tokenizer_dir, **settings):
        options = {"max_length": 64, "validation_fraction": 0.2, "seed": 3, "exclude_flagged": False}
        options.update(settings)
        return build_mlm_corpus(load_tokenizer(tokenizer_dir), ["KJV", "WBS", "WEB"], cache_dir=tmp_path, **options)

    return build


def test_validation_split_shares_no_verse_id_with_training(small_corpus, tiny_tokenizer_dir):
    corpus = small_corpus(tiny_tokenizer_dir)
    train, validation = set(corpus["train"]["verse_id"]), set(corpus["validation"]["verse_id"])
    assert validation and train and not train & validation
    assert set(corpus["train"]["translation"]) == {"KJV", "WBS", "WEB"}


def test_identical_sequences_are_kept_once(small_corpus, tiny_tokenizer_dir):
    corpus = small_corpus(tiny_tokenizer_dir)
    train = [tuple(ids) for ids in corpus["train"]["input_ids"]]
    validation = [tuple(ids) for ids in corpus["validation"]["input_ids"]]
    assert len(set(train)) == len(train) and len(set(validation)) == len(validation)
    assert not set(train) & set(validation)
    verses = 3 * len(few_books("KJV"))
    assert len(train) + len(validation) < verses  # KJV and WBS agree word for word in many verses


def test_sequences_are_cls_text_sep_unpadded_and_truncated(small_corpus, tiny_tokenizer_dir):
    corpus = small_corpus(tiny_tokenizer_dir, max_length=12)
    for row in corpus["train"]:
        assert row["input_ids"][0] == 2 and row["input_ids"][-1] == 3
        assert 0 not in row["input_ids"]  # no [PAD]
        assert 4 not in row["input_ids"]  # no [MASK]: masking is per batch
        assert row["length"] == len(row["input_ids"]) <= 12
    assert max(corpus["train"]["length"]) == 12


def test_corpus_is_cached_by_settings(small_corpus, tiny_tokenizer_dir, monkeypatch):
    first = small_corpus(tiny_tokenizer_dir)

    def fail(*args, **kwargs):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(mlm_corpus, "_tokenize", fail)
    again = small_corpus(tiny_tokenizer_dir)
    assert again["train"]["input_ids"] == first["train"]["input_ids"]
    with pytest.raises(AssertionError, match="tokenized again"):
        small_corpus(tiny_tokenizer_dir, max_length=32)  # other settings, other cache entry


def test_same_seed_same_split_other_seed_other_split(small_corpus, tiny_tokenizer_dir):
    first = small_corpus(tiny_tokenizer_dir)
    assert small_corpus(tiny_tokenizer_dir)["validation"]["verse_id"] == first["validation"]["verse_id"]
    other = small_corpus(tiny_tokenizer_dir, seed=4)
    assert set(other["validation"]["verse_id"]) != set(first["validation"]["verse_id"])


def test_validation_verses_are_a_stable_fraction_of_all_ids():
    ids = canonical_verse_ids()
    chosen = [verse_id for verse_id in ids if is_validation_verse(verse_id, fraction=0.02, seed=0)]
    assert 0.017 < len(chosen) / len(ids) < 0.023
    assert chosen == [verse_id for verse_id in ids if is_validation_verse(verse_id, fraction=0.02, seed=0)]
    assert not is_validation_verse(43003016, fraction=0.0, seed=0)


def test_split_and_deduplicate_keeps_the_first_copy():
    rows = [CorpusRow(1, "KJV", "a"), CorpusRow(1, "WBS", "a"), CorpusRow(2, "KJV", "b")]
    train, validation = split_and_deduplicate(rows, [[2, 7, 3], [2, 7, 3], [2, 8, 3]], validation_fraction=0, seed=0)
    assert [row for row, _ in train] == [rows[0], rows[2]] and validation == []


def test_settings_are_validated(tiny_tokenizer_dir):
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    with pytest.raises(ValueError, match="max_length"):
        build_mlm_corpus(tokenizer, ["KJV"], max_length=1, seed=0)
    with pytest.raises(ValueError, match="validation_fraction"):
        build_mlm_corpus(tokenizer, ["KJV"], max_length=16, validation_fraction=1.0, seed=0)


def test_token_length_report_counts_truncation(monkeypatch, tiny_tokenizer_dir):
    monkeypatch.setattr(bible, "load_verses", lambda code, **kwargs: few_books(bible.translation_info(code).code))
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    report = token_length_report(tokenizer, ["KJV", "web"], max_length=20)
    lengths = [len(tokenizer(verse.text)["input_ids"]) for verse in few_books("KJV")]
    kjv = report["KJV"]
    assert kjv.verses == len(lengths) and kjv.max == max(lengths)
    assert kjv.truncated == sum(length > 20 for length in lengths) > 0
    assert kjv.truncation_rate == kjv.truncated / kjv.verses
    assert report["ALL"].verses == kjv.verses + report["WEB"].verses
    assert report["ALL"].max == max(kjv.max, report["WEB"].max)


@pytest.mark.slow
def test_whole_bible_corpus_with_flagged_verses_excluded(tmp_path, tiny_tokenizer_dir):
    from versebert.data.validation import default_report, flagged_verse_ids

    corpus = build_mlm_corpus(
        load_tokenizer(tiny_tokenizer_dir), ["KJV", "DAR"], max_length=128, seed=0, cache_dir=tmp_path
    )
    train, validation = corpus["train"], corpus["validation"]
    assert not set(train["verse_id"]) & set(validation["verse_id"])
    darby = {verse_id for verse_id, code in zip(train["verse_id"], train["translation"], strict=True) if code == "DAR"}
    assert darby and not darby & flagged_verse_ids(default_report(), "DAR")
    assert 0.015 < len(validation) / (len(train) + len(validation)) < 0.025
