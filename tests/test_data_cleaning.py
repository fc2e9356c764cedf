"""Each cleaning rule on the real verses where the defect occurs (raw texts from the installed packages)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from versebert.data.bible import read_package
from versebert.data.cleaning import (
    clean_text,
    drop_quotation_marks,
    normalize_dashes,
    normalize_quotes,
    normalize_whitespace,
    remove_brackets,
    remove_editorial_notes,
    remove_headings,
    remove_markup,
    rule_counts,
    separate_joined_lines,
)


def raw(code: str, verse_id: int) -> str:
    return read_package(code).texts[verse_id]


def test_brackets_of_supplied_words_go_but_the_words_stay():
    text = raw("KJV", 1001002)  # Genesis 1:2
    assert "darkness [was] upon" in text
    assert remove_brackets(text).startswith("And the earth was without form, and void; and darkness was upon")


def test_brackets_spanning_two_verses_are_removed_from_both():
    opening, closing = raw("NHEB", 40017020), raw("NHEB", 40017021)  # Matthew 17:20-21
    assert opening.count("[") == 1 and "]" not in opening and closing.count("]") == 1
    assert "[" not in remove_brackets(opening) and remove_brackets(closing).endswith("prayer and fasting.")


def test_hyphenated_bracket_becomes_one_word():
    text = raw("WEB", 3002012)  # Leviticus 2:12
    assert "first -[fruits]" in text
    assert "first-fruits you shall offer" in remove_brackets(text)


def test_backtick_and_curly_apostrophes_become_straight():
    assert "God`s Spirit" in raw("WEB", 1001002)
    assert "God's Spirit" in normalize_quotes(raw("WEB", 1001002))
    assert "wife’s name" in raw("KJV", 1003020)
    assert "wife's name" in normalize_quotes(raw("KJV", 1003020))
    curly = raw("OEB", 19002006)  # Psalm 2:6
    assert curly.startswith("\u201c") and normalize_quotes(curly).startswith('"This my king')


def test_dashes_are_one_spaced_em_dash():
    text = raw("YLT", 1001001)
    assert text.endswith("--")
    assert normalize_whitespace(normalize_dashes(text)).endswith("the earth \u2014")
    assert "sin \u2014 ;" in normalize_dashes(raw("KJV", 2032032))  # "sin—;" in Exodus 32:32


def test_poetry_layout_whitespace_is_collapsed():
    ylt = raw("YLT", 1001002)
    assert "on  the face" in ylt
    assert "  " not in normalize_whitespace(ylt)
    web = raw("WEB", 19001001)
    assert "wicked,    Nor stand" in web
    assert "wicked, Nor stand" in normalize_whitespace(web)
    asv = raw("ASV", 1035022)  # a paragraph break inside Genesis 35:22
    assert "\n" in asv and "\n" not in normalize_whitespace(asv)
    assert normalize_whitespace(raw("KJV", 5029016)).startswith("(For ye know")  # "( For" in the source


def test_joined_poetry_lines_get_their_space_back():
    nheb = raw("NHEB", 19001001)
    assert "wicked,nor stand" in nheb
    assert "wicked, nor stand in the way of sinners, nor sit" in separate_joined_lines(nheb)
    judges = raw("NHEB", 7005016)
    assert "ReubenThere" in judges and "of Reuben There were" in separate_joined_lines(judges)
    assert 'saying,"It is written' in raw("WEB", 42004004)  # Luke 4:4: an opening quote after a comma
    assert 'saying, "It is written' in separate_joined_lines(raw("WEB", 42004004))


def test_joined_lines_rule_leaves_odd_capitals_inside_words():
    darby = raw("DAR", 38009009)  # Zechariah 9:9, a typo in the source
    assert "rIding" in darby and separate_joined_lines(darby) == darby
    assert separate_joined_lines(raw("NHEB", 66019016)).endswith('KING OF KINGS, AND Lord OF LordS."')


def test_markup_without_words_is_dropped():
    darby = raw("DAR", 1048022)
    assert "*I* have given" in darby and "I have given" in remove_markup(darby) and "*" not in remove_markup(darby)
    title = raw("DAR", 19003001)
    assert title.startswith("{A Psalm of David")
    assert remove_markup(title).startswith("A Psalm of David, when he fled from Absalom his son. Jehovah")
    webster = raw("WBS", 19003001)
    assert webster.startswith("+") and remove_markup(webster).lstrip().startswith("A Psalm of David")
    basic = raw("BBE", 7002001)  # Judges 2:1, "***" for untranslated words
    assert "***" in basic and "*" not in remove_markup(basic)


@pytest.mark.parametrize(
    ("code", "verse_id", "heading", "kept"),
    [
        ("WEB", 18042017, "BOOK I", "So Job died, being old and full of days."),
        ("WEB", 19041013, "For the Chief Musician", "Amen and amen."),  # Psalm 42's title leaked into 41:13
        ("WEB", 19119008, "BEIT", "Don`t utterly forsake me."),
        ("NHEB", 19041013, "BOOK II", "Amen and amen."),
        ("NHEB", 19119008, "BET", "Do not utterly forsake me."),
        ("ASV", 19119032, "HE.", "When thou shalt enlarge my heart."),
    ],
)
def test_trailing_psalter_headings_are_removed(code, verse_id, heading, kept):
    text = raw(code, verse_id)
    assert heading in text
    cleaned = remove_headings(text).rstrip()
    assert cleaned.endswith(kept) and heading not in cleaned


@pytest.mark.parametrize(
    ("code", "verse_id", "start"),
    [
        ("DAR", 19119001, "Blessed are the perfect in the way"),
        ("WBS", 19119001, "Blessed are the undefiled"),
        ("BBE", 19119001, "Happy are they"),
        ("YLT", 19119001, "O the happiness"),
        ("NHEB", 19119001, "Blessed are those"),  # "ALEPHBlessed"
        ("NHEB", 25003001, "I am the man"),  # "ALEPHI am the man"
    ],
)
def test_leading_acrostic_letters_are_removed(code, verse_id, start):
    assert not raw(code, verse_id).startswith(start)
    assert remove_headings(raw(code, verse_id)).startswith(start)


def test_acrostic_letters_glued_inside_a_verse_are_removed():
    text = raw("NHEB", 19111005)  # "...fear him.YODHe always remembers his covenant.KAPH"
    assert "YODHe" in text
    assert clean_text(text) == "He has given food to those who fear him. He always remembers his covenant."


def test_capital_he_that_is_text_is_kept():
    for verse_id in (23043010, 23041004, 5032039):  # Darby: "I am HE"
        assert "HE" in raw("DAR", verse_id)
        assert "I am HE" in clean_text(raw("DAR", verse_id)) or "I, I am HE" in clean_text(raw("DAR", verse_id))


def test_editorial_notes_and_placeholders_are_removed():
    oeb = raw("OEB", 40001018)
    assert "crosswire" in oeb
    assert clean_text(oeb).startswith("This is how Jesus Christ was born: His mother Mary")
    assert "crosswire" not in remove_editorial_notes(oeb)
    assert raw("WEB", 44008037) == "dummy verses inserted by amos" and clean_text(raw("WEB", 44008037)) == ""
    assert raw("DAR", 40023014) == "Not available" and clean_text(raw("DAR", 40023014)) == ""


def test_text_without_letters_is_no_text():
    assert raw("BBE", 18036016) == "..."  # untranslated in BBE
    assert raw("BBE", 40017021) == "[]"
    assert clean_text(raw("BBE", 18036016)) == "" and clean_text(raw("BBE", 40017021)) == ""


def test_drop_quotes_keeps_apostrophes():
    text = clean_text(raw("WEB", 42004004), drop_quotes=True)
    assert '"' not in text and "'" not in text
    assert (
        text == "Jesus answered him, saying, It is written, Man will not live by bread alone, but by every word of God."
    )
    assert "God's Spirit" in clean_text(raw("WEB", 1001002), drop_quotes=True)
    assert drop_quotation_marks("'Go to your fathers' house,' he said.") == "Go to your fathers' house, he said."


def test_cleaning_keeps_every_letter_of_kjv_genesis():
    """KJV has no headings or placeholders, so cleaning may change only punctuation and spacing."""
    genesis = {verse_id: text for verse_id, text in read_package("KJV").texts.items() if verse_id < 2_000_000}
    for text in genesis.values():
        assert re.sub(r"[^A-Za-z]", "", clean_text(text)) == re.sub(r"[^A-Za-z]", "", text)


def test_cleaning_is_idempotent_on_the_psalms_of_every_translation():
    for code in ("KJV", "WEB", "ASV", "YLT", "DAR", "BBE", "NHEB", "WBS", "OEB"):
        for verse_id, text in read_package(code).texts.items():
            if 19119000 < verse_id < 19120000:
                once = clean_text(text)
                assert clean_text(once) == once, (code, verse_id)


def test_rule_counts_counts_changed_texts_per_rule():
    texts = [raw("KJV", 1001001), raw("KJV", 1001002), raw("WEB", 1001002)]
    assert rule_counts(texts) == Counter({"remove_brackets": 1, "normalize_quotes": 1})
