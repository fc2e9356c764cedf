"""Verse search: joined BM25, dense (SentenceTransformers), verse prior and topic memory, fused by
weighted Reciprocal Rank Fusion; references first.

Quick start (the default search: cached index of the eight whole Bibles + the packaged knowledge)::

    from versebert.retrieval import VerseSearcher
    from versebert.retrieval.default_index import default_search_index

    for hit in VerseSearcher(default_search_index()).search("give you a new heart", k=5):
        print(hit.reference, hit.text, hit.why)

Or build one: ``SearchIndex.build(corpora, DenseEncoder(dir), documents=VerseDocuments(),
knowledge=TopicKnowledge.load_topic_votes(path))``. Submodules import their heavy dependencies
(bm25s to build, sentence-transformers for dense) only when used.
"""

from .archaic import normalize_archaic
from .bm25 import Analyzer, BM25Config, BM25Index
from .corpus import VerseCorpus
from .dense import DenseEncoder, DenseIndex, model_fingerprint
from .fusion import reciprocal_rank_fusion
from .fusion_weights import FusionWeights
from .index import SearchIndex
from .references import reference_verse_ids, words_outside_references
from .searcher import MAX_QUERY_CHARS, Match, Ranking, SearchConfig, SearchHit, VerseSearcher, validate_query
from .topic_knowledge import TopicKnowledge
from .topic_memory import TopicMemory
from .verse_documents import VerseDocuments

__all__ = [
    "MAX_QUERY_CHARS",
    "Analyzer",
    "BM25Config",
    "BM25Index",
    "DenseEncoder",
    "DenseIndex",
    "FusionWeights",
    "Match",
    "SearchConfig",
    "Ranking",
    "SearchHit",
    "SearchIndex",
    "TopicKnowledge",
    "TopicMemory",
    "VerseCorpus",
    "VerseDocuments",
    "VerseSearcher",
    "model_fingerprint",
    "normalize_archaic",
    "reciprocal_rank_fusion",
    "reference_verse_ids",
    "words_outside_references",
    "validate_query",
]
