"""Verse search: BM25 (bm25s), dense (SentenceTransformers), Reciprocal Rank Fusion, references.

Quick start::

    from versebert.retrieval import SearchIndex, VerseCorpus, VerseSearcher

    index = SearchIndex.build([VerseCorpus.from_translation("WEB")])   # add DenseEncoder(dir) for hybrid
    for hit in VerseSearcher(index).search("give you a new heart", k=5):
        print(hit.reference, hit.text, hit.why)

Submodules import their heavy dependencies (bm25s, sentence-transformers) only when used.
"""

from .archaic import normalize_archaic
from .bm25 import Analyzer, BM25Config, BM25Index
from .corpus import VerseCorpus
from .dense import DenseEncoder, DenseIndex, model_fingerprint
from .fusion import reciprocal_rank_fusion
from .index import SearchIndex
from .references import reference_verse_ids
from .searcher import MAX_QUERY_CHARS, Match, Ranking, SearchConfig, SearchHit, VerseSearcher, validate_query

__all__ = [
    "MAX_QUERY_CHARS",
    "Analyzer",
    "BM25Config",
    "BM25Index",
    "DenseEncoder",
    "DenseIndex",
    "Match",
    "SearchConfig",
    "Ranking",
    "SearchHit",
    "SearchIndex",
    "VerseCorpus",
    "VerseSearcher",
    "model_fingerprint",
    "normalize_archaic",
    "reciprocal_rank_fusion",
    "reference_verse_ids",
    "validate_query",
]
