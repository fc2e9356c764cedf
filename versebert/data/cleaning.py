"""Text cleaning for verse texts: pure ``str -> str`` rules, one per defect found in the packages.

Every rule below was written against what the pythonbible translation packages (0.0.2) actually
contain; the docstrings say where each defect occurs. :func:`clean_text` applies them in a fixed
order (markup before brackets, brackets before spacing) and is what
:func:`versebert.data.bible.load_verses` uses. ``raw_text`` keeps the original for
display, so cleaning may be aggressive about layout but must never drop or reorder words of
scripture.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

# The 22 Hebrew letters as the translations spell them in capitals over the acrostic stanzas of
# Psalms 111, 112, 119, Proverbs 31 and Lamentations (longest spelling first, so "HEY" wins over "HE").
_HEBREW_LETTERS = sorted(
    """ALEPH BETH BET BEIT GIMEL DALETH DALET DALED HE HEY VAU VAV WAW ZAIN ZAYIN HETH CHETH CHET HET
    TETH TET JOD YOD YODH YUD CAPH KAPH KAF LAMED LAMEDH MEM NUN SAMECH SAMEKH AIN AYIN PE PEY
    TZADDI TSADDI TZADI TZADE TZADEH KOPH QOPH KUF RESH SCHIN SHIN SIN TAU TAV TAW""".split(),
    key=len,
    reverse=True,
)
_LETTER = "(?:SIN (?:AND|and) SHIN|" + "|".join(_HEBREW_LETTERS) + ")"
_ACROSTIC_LEADING = re.compile(rf"^\s*{_LETTER}(?:\.?\s+|(?=[A-Z][a-z])|(?=[AI]\b))")
_ACROSTIC_TRAILING = re.compile(rf"(?<=[\s.,;:!?\"'\u2019\u201d]){_LETTER}\s*$|\n{_LETTER}\.\s*$")
# Glued inside a verse: prefer the split that leaves a capitalised word ("YODHe" is YOD + "He").
_ACROSTIC_GLUED = re.compile(
    rf"(?<=[a-z,;:.!?\"'\u2019\u201d])(?=[A-Z]{{2}})(?:{_LETTER}(?=[A-Z][a-z]|[AI]\b)|{_LETTER}(?=[a-z]))"
)
_CAPITALS = re.compile(r"[A-Z]{2}")
_YLT_ACROSTIC = re.compile(r"^\s*\[[A-Z][a-z]+\.\]\s*")
_BOOK_OR_PSALM_HEADING = re.compile(r"(?<=[\s.!?;:,])(?:BOOK [IVX]+\b|Psalm \d+\b).*$", re.DOTALL)

_EDITORIAL_NOTE = re.compile(
    r"\[\s*crosswire[^\]]*\]|(?:dummy|empty) verses (?:content )?(?:inserted|detected) by amos|^\s*Not available\s*$",
    re.IGNORECASE,
)
_EMPHASIS = re.compile(r"\*+")
_TITLE_MARKER = re.compile(r"(?<!\S)\+(?!\S)")
_BRACES = re.compile(r"[{}]")
_HYPHEN_BRACKET = re.compile(r"\s-\[")
_BRACKETS = re.compile(r"[\[\]]")

_QUOTE_TABLE = str.maketrans({"`": "'", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_DASH = re.compile(r"\s*(?:--+|\u2014|\u2013)\s*")

_GLUED_AFTER_STOP = re.compile(r"([.!?]['\"]?)(?=[A-Za-z])")
_GLUED_AFTER_PAUSE = re.compile(r"([,;:])(?=['\"]?[A-Za-z])")
_GLUED_LINES = re.compile(r"([a-z]{2})(?=[A-Z][a-z]|[AI]\b)")
_ANY_GLUE = re.compile(r"[.!?,;:]['\"]?[A-Za-z]|[a-z][A-Z]")

_SPACE_BEFORE_PUNCTUATION = re.compile(r" ([,;:.!?)])")
_SPACE_AFTER_PARENTHESIS = re.compile(r"\( ")
_LETTER_CHARACTER = re.compile(r"[^\W\d_]")

_DOUBLE_QUOTE = re.compile(r'"')
# An apostrophe sits inside a word (God's, don't) or after a plural s (fathers' house);
# any other single quote mark opens or closes a quotation.
_SINGLE_QUOTE_MARK = re.compile(r"(?<![A-Za-z])'|'(?![A-Za-z])(?<![sS]')")


def remove_editorial_notes(text: str) -> str:
    """Drop notes by the electronic editors, not the translators.

    OEB: 1,040 verses carry "[crosswire  amateurish codings versifikation may be wrong here ]"; in 192
    of them it is all there is (their words stand in a neighbouring verse), so they become missing.
    WEB: four verses it omits hold "dummy verses inserted by amos" or "empty verses content
    detected by amos" (Luke 17:36, Acts 8:37, 15:34, 24:7), DAR "Not available" (Matthew 23:14,
    Acts 8:37, 15:34); they become empty, so missing.
    """
    return _EDITORIAL_NOTE.sub(" ", text)


def remove_markup(text: str) -> str:
    """Drop typographic markup that has no words of its own.

    DAR marks emphasis with asterisks (``*I* have given``, 771 verses) and wraps Psalm titles in
    braces (``{A Psalm of David ...}``, 116 verses; the title words stay). BBE writes ``***`` for
    words it leaves untranslated (7 verses), BBE and WBS write a lone ``+`` where a Psalm title was
    (67 verses).
    """
    text = _EMPHASIS.sub("", text)
    text = _TITLE_MARKER.sub(" ", text)
    return _BRACES.sub("", text)


def remove_headings(text: str) -> str:
    """Drop section headings that the packages glued onto verses.

    * Acrostic letters over the stanzas of Psalm 119 (also Psalms 111-112, Proverbs 31 and
      Lamentations in NHEB): leading in DAR, WBS, BBE ("ALEPH. Blessed", "ALEPH Happy"), YLT
      ("[Aleph.] O the happiness"), NHEB glued ("ALEPHBlessed", "afraidAYINuntil"); trailing in
      WEB ("forsake me.  BEIT", "SIN AND SHIN"), NHEB ("forsake me.BET") and once in ASV
      (Psalm 119:32, "HE." on a line of its own).
    * Psalter headings at the end of the previous verse: WEB ("... days.  BOOK I  Psalm 1", and
      "Psalm 42  For the Chief Musician ..." after Psalm 41:13 — the next Psalm's title, which the
      WEB does not number as a verse), NHEB ("Amen and amen.BOOK II").

    Capitals matter: a trailing "HE." with a full stop is text ("I am HE."), a bare "BEIT" is not.
    """
    text = _YLT_ACROSTIC.sub("", text)
    if _CAPITALS.search(text):  # every heading is in capitals: skip the costly patterns otherwise
        text = _ACROSTIC_LEADING.sub("", text)
        text = _ACROSTIC_TRAILING.sub("", text)
        text = _ACROSTIC_GLUED.sub(" ", text)
    return _BOOK_OR_PSALM_HEADING.sub("", text)


def remove_brackets(text: str) -> str:
    """Keep bracketed words, drop the brackets.

    Brackets mark words supplied by the translators (KJV 14,224 verses: "darkness [was] upon the
    face"; YLT, DAR, ASV, WEB likewise) or passages of doubtful authenticity, sometimes spanning
    verses so that one verse has only "[" and the next only "]" (NHEB Matthew 17:20-21, ASV
    "[Selah", DAR John 5:3-4). Either way the words are part of the translation. WEB writes
    "first -[fruits]", which becomes "first-fruits"; BBE's empty "[]" (an omitted verse) becomes
    empty and the verse is then reported missing.
    """
    text = _HYPHEN_BRACKET.sub("-[", text)
    return _BRACKETS.sub("", text)


def normalize_quotes(text: str) -> str:
    """Map backticks and curly quotes to ASCII ``'`` and ``"``.

    WEB writes the apostrophe as a backtick ("God`s", 5,197 verses), YLT uses the backtick both as
    apostrophe and as quotation mark (8,864 verses); KJV and ASV use "’" (about 1,780 verses each);
    OEB uses curly quotes throughout.
    """
    return text.translate(_QUOTE_TABLE)


def normalize_dashes(text: str) -> str:
    """Write every dash as a spaced em dash.

    YLT uses "--" (5,456 verses), WEB and BBE "--" with or without spaces, KJV and ASV "—", OEB
    "—" and "–": one form keeps identical sentences identical across translations and spellings.
    """
    return _DASH.sub(" \u2014 ", text)


def separate_joined_lines(text: str) -> str:
    """Put back the space lost where poetry lines were joined.

    NHEB (6,428 verses) and OEB (2,308) joined lines without a space: "counsel of the wicked,nor
    stand", "Absalom his son.Lord, how", "of ReubenThere were". A quote mark after a full stop is
    taken to close a quotation ('me?"He said' → 'me?" He said'), after a comma to open one
    ('saying,"It is written' → 'saying, "It is written'). The camel-case split needs two
    lowercase letters before the capital, so a stray capital inside a word (DAR "rIding") and
    "LordS" (NHEB Revelation 19:16) stay as they are. Lines joined before a lowercase word
    ("fortressagain", OEB) cannot be told from real words and stay joined.
    """
    if not _ANY_GLUE.search(text):  # the common case; the three patterns below are slower
        return text
    text = _GLUED_AFTER_STOP.sub(r"\1 ", text)
    text = _GLUED_AFTER_PAUSE.sub(r"\1 ", text)
    return _GLUED_LINES.sub(r"\1 ", text)


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces and newlines, strip, and drop spaces before punctuation.

    YLT keeps the double spaces of its line wrapping (29,305 verses), WEB indents poetry with runs
    of spaces (5,235 verses), ASV keeps paragraph newlines inside 90 verses, KJV and ASV write
    "( For ye know" (about 40 verses).
    """
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(text.split()))
    return _SPACE_AFTER_PARENTHESIS.sub("(", text)


def drop_quotation_marks(text: str) -> str:
    """Remove quotation marks but keep apostrophes (God's, don't, the fathers' house).

    Quotation marks say who speaks, which varies between translations of the same verse (KJV has
    none, WEB and NHEB have many); dropping them makes a verse read the same whichever
    translation it comes from. Expects :func:`normalize_quotes` to have run.
    """
    return _SINGLE_QUOTE_MARK.sub("", _DOUBLE_QUOTE.sub("", text))


CLEANING_RULES: tuple[Callable[[str], str], ...] = (
    remove_editorial_notes,
    remove_markup,
    remove_headings,
    remove_brackets,
    normalize_quotes,
    normalize_dashes,
    separate_joined_lines,
    normalize_whitespace,
)


def clean_text(text: str, *, drop_quotes: bool = False) -> str:
    """Apply every rule of :data:`CLEANING_RULES` in order (and optionally drop quotation marks).

    A text without a single letter is no verse text and comes back empty: BBE writes "..." for
    passages it leaves untranslated (Job 36:16-20, 2 Kings 11:6 ...) and "***" for 1 Samuel 13:1.
    """
    for rule in CLEANING_RULES:
        text = rule(text)
    if drop_quotes:
        text = normalize_whitespace(drop_quotation_marks(text))
    return text if _LETTER_CHARACTER.search(text) else ""


def rule_counts(texts: Iterable[str]) -> Counter[str]:
    """How many texts each rule changes, applying the rules in order (a defect census)."""
    counts: Counter[str] = Counter()
    for text in texts:
        for rule in CLEANING_RULES:
            cleaned = rule(text)
            if cleaned != text:
                counts[rule.__name__] += 1
            text = cleaned
    return counts
