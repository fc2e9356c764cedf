"""One BM25 document per verse, joining its text in every indexed translation.

Translations word the same verse differently ("charity suffereth long", "love is patient", "love
endures long"), and a user's words match some of them: a single document holding all of them lets
one BM25 ranking find the verse through any wording, and its term frequencies reward words the
translations agree on (dev topics, 8 translations: NDCG@10 0.114 against 0.095 for the WEB alone).
Optionally a verse's document also holds its chapter neighbours (``neighbours`` verses either side,
same chapter), since topics name what a passage is about; appended whole, as here, they dilute the
verse's own words more than they help (dev: 0.083 with one neighbour either side), so the default
is none.

Each verse is analysed once per translation and its terms reused in every document it joins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .bm25 import Analyzer, BM25Config, BM25Index
from .corpus import VerseCorpus

CHAPTER_PLACE = 1_000


@dataclass(frozen=True)
class VerseDocuments:
    """How verse documents are made. ``joined``: one document per verse over every translation
    (else one index per translation); ``neighbours``: chapter neighbours either side added to each."""

    joined: bool = True
    neighbours: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.joined, bool):
            raise ValueError(f"VerseDocuments.joined must be a bool, got {self.joined!r}")
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, int) or not 0 <= self.neighbours <= 5:
            raise ValueError(f"VerseDocuments.neighbours must be an integer from 0 to 5, got {self.neighbours!r}")
        if self.neighbours and not self.joined:
            raise ValueError("VerseDocuments.neighbours needs joined documents (joined=True)")


JOINED = "joined"  # the key of the joined index among per-translation ones


def verse_terms(corpora: Sequence[VerseCorpus], analyzer: Analyzer) -> dict[int, list[str]]:
    """Each verse id's analysed terms over all ``corpora``, verses in Bible (id) order."""
    terms: dict[int, list[str]] = {}
    for corpus in corpora:
        for verse_id, text in zip(corpus.verse_ids, corpus.texts, strict=True):
            terms.setdefault(verse_id, []).extend(analyzer(text))
    return dict(sorted(terms.items()))


def with_neighbours(terms: dict[int, list[str]], neighbours: int) -> list[list[str]]:
    """Each verse's terms followed by those of up to ``neighbours`` verses before and after it in
    the same chapter (``terms`` in id order)."""
    verse_ids = list(terms)
    documents = []
    for position, verse_id in enumerate(verse_ids):
        chapter = verse_id // CHAPTER_PLACE
        document = list(terms[verse_id])
        for other in range(max(0, position - neighbours), min(len(verse_ids), position + neighbours + 1)):
            if other != position and verse_ids[other] // CHAPTER_PLACE == chapter:
                document.extend(terms[verse_ids[other]])
        documents.append(document)
    return documents


def build_joined_index(
    corpora: Sequence[VerseCorpus], documents: VerseDocuments, config: BM25Config | None = None
) -> BM25Index:
    """BM25 over one document per verse id found in any of ``corpora``."""
    config = config or BM25Config()
    terms = verse_terms(corpora, Analyzer(config))
    return BM25Index.build_from_tokens(list(terms), with_neighbours(terms, documents.neighbours), config)
