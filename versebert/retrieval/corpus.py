"""The verses a search runs over: one translation as parallel tuples of ids and texts.

Retrievers take verse ids and texts, never a translation code, so they are tested on three
in-memory verses as easily as on the whole Bible; :meth:`VerseCorpus.from_translation` is the one
place that loads a translation.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class VerseCorpus:
    """``texts`` are the cleaned verses: what retrievers index and what users read. The packages' raw
    texts are not shown: they carry glued Psalm headings ("... forever.      Psalm 31  For the Chief
    Musician"), poetry spacing and backtick apostrophes that cleaning removes."""

    translation: str
    verse_ids: tuple[int, ...]
    texts: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "verse_ids", tuple(int(verse_id) for verse_id in self.verse_ids))
        object.__setattr__(self, "texts", tuple(self.texts))
        if not self.translation:
            raise ValueError("VerseCorpus.translation must be a non-empty code such as 'WEB'")
        if not self.verse_ids:
            raise ValueError(f"VerseCorpus.verse_ids is empty for {self.translation}")
        if len(self.texts) != len(self.verse_ids):
            raise ValueError(
                f"VerseCorpus.texts has {len(self.texts)} entries for {len(self.verse_ids)} verse ids"
            )
        if len(set(self.verse_ids)) != len(self.verse_ids):
            raise ValueError(f"VerseCorpus.verse_ids of {self.translation} has duplicates")

    @classmethod
    def from_translation(cls, code: str) -> VerseCorpus:
        """Load a translation's cleaned verses with :func:`versebert.data.bible.load_verses`: the
        on-disk cache of cleaned texts, without ``datasets`` (seconds of import a search does not need)."""
        from ..data.bible import load_verses

        verses = load_verses(code)
        return cls(verses[0].translation, tuple(v.verse_id for v in verses), tuple(v.text for v in verses))

    @classmethod
    def from_texts(cls, translation: str, verses: Sequence[tuple[int, str]]) -> VerseCorpus:
        """A corpus from ``(verse_id, text)`` pairs; handy for tests and custom texts."""
        return cls(translation, tuple(v for v, _ in verses), tuple(t for _, t in verses))

    def __len__(self) -> int:
        return len(self.verse_ids)

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 of what an index depends on: the translation code, verse ids and indexed texts."""
        digest = hashlib.sha256(self.translation.encode())
        for verse_id, text in zip(self.verse_ids, self.texts, strict=True):
            digest.update(f"\n{verse_id}\t{text}".encode())
        return digest.hexdigest()

    @functools.cached_property
    def _positions(self) -> dict[int, int]:
        return {verse_id: position for position, verse_id in enumerate(self.verse_ids)}

    def __contains__(self, verse_id: object) -> bool:
        return verse_id in self._positions

    def text(self, verse_id: int) -> str:
        """The cleaned text of ``verse_id``, as indexed and shown; ``KeyError`` if absent."""
        return self.texts[self._positions[verse_id]]
