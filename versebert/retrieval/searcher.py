"""Hybrid verse search: references first, then BM25 and dense rankings fused by RRF.

For each query, every retriever ranks the verses of every indexed translation; all these rankings
are fused per verse id with Reciprocal Rank Fusion, each retriever's weight split evenly over its
translations (so adding the KJV lets KJV wording find a verse without doubling BM25's say against
the dense model). The text shown comes from the display translation (WEB by default). Each hit
carries every retriever's rank and score for it, so a user can see why it matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..errors import UserError
from .corpus import VerseCorpus
from .fusion import reciprocal_rank_fusion
from .index import SearchIndex
from .references import reference_verse_ids

MAX_QUERY_CHARS = 1000  # a long verse is ~550 characters; pasting one to find parallels still works
MAX_RESULTS = 1000  # more hits than anyone reads; bounds the work one request can ask for
DEFAULT_DISPLAY = "WEB"
RETRIEVERS = ("bm25", "dense")
Retrieved = list[tuple[str, str, list[tuple[int, float]]]]  # (retriever, translation, ranking) per query


@dataclass(frozen=True)
class SearchConfig:
    """How rankings are made and fused.

    ``depth``: verses each retriever ranks per translation before fusion (at least ``k``).
    ``rrf_k``: the RRF constant. ``*_weight``: each retriever's total weight in the fusion; left
    unset, both come from the model's :class:`~.fusion_weights.FusionWeights` (chosen for it on the
    dev topics), or are 1 for a model without them.
    ``resolve_references``: put verses named by references in the query ("John 3:16") first.
    ``max_query_chars``: longer queries are rejected with a message rather than silently cut,
    since a cut query may no longer say what the user meant.
    """

    depth: int = 100
    rrf_k: float | int = 60
    bm25_weight: float | int | None = None
    dense_weight: float | int | None = None
    resolve_references: bool = True
    max_query_chars: int = MAX_QUERY_CHARS

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"SearchConfig.depth must be >= 1, got {self.depth}")
        if self.rrf_k < 0:
            raise ValueError(f"SearchConfig.rrf_k must be >= 0, got {self.rrf_k}")
        for name in ("bm25_weight", "dense_weight"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"SearchConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.max_query_chars < 1:
            raise ValueError(f"SearchConfig.max_query_chars must be >= 1, got {self.max_query_chars}")


@dataclass(frozen=True)
class Match:
    """Where one retriever placed a hit: ``retriever`` is "reference", "bm25" or "dense"."""

    retriever: str
    translation: str | None
    rank: int
    score: float | None

    def __str__(self) -> str:
        where = f" {self.translation}" if self.translation else ""
        score = f" {self.score:.3g}" if self.score is not None else ""
        return f"{self.retriever}{where} #{self.rank}{score}"


@dataclass(frozen=True)
class SearchHit:
    """One result. ``score`` is the fused RRF score (``None`` for a verse named by reference)."""

    rank: int
    verse_id: int
    reference: str
    text: str
    translation: str
    score: float | None
    matches: tuple[Match, ...]

    @property
    def why(self) -> str:
        return ", ".join(str(match) for match in self.matches)

    def to_dict(self) -> dict:
        return asdict(self)


def validate_query(query: object, max_chars: int = MAX_QUERY_CHARS) -> str:
    """The stripped query, or a :class:`UserError` for an empty or over-long one."""
    if not isinstance(query, str):
        raise UserError(f"the query must be text, got {type(query).__name__}")
    query = query.strip()
    if not query:
        raise UserError('empty query: give words to search for ("give you a new heart") or a reference ("Ps 23")')
    if len(query) > max_chars:
        raise UserError(f"query is {len(query):,} characters long; the limit is {max_chars:,} "
                        f"(search with a phrase or a verse, not a whole passage)")
    return query


def validate_k(k: object, max_results: int = MAX_RESULTS) -> int:
    """The number of hits asked for, or a :class:`UserError` when it is not in ``1..max_results``."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= max_results:
        raise UserError(f"-k must be a number of results from 1 to {max_results:,}, got {k!r}")
    return k


class VerseSearcher:
    """Search a :class:`SearchIndex`; ``retrievers`` picks among "bm25" and "dense" (default: all built)."""

    def __init__(
        self, index: SearchIndex, *, display: str | VerseCorpus | None = None,
        retrievers: Sequence[str] | None = None, config: SearchConfig | None = None,
    ) -> None:
        self.index = index
        self.config = config or SearchConfig()
        available = ["bm25"] + (["dense"] if index.encoder is not None else [])
        self.retrievers = tuple(retrievers or available)
        for name in self.retrievers:
            if name not in RETRIEVERS:
                raise ValueError(f"unknown retriever {name!r}; choose from {RETRIEVERS}")
            if name not in available:
                raise UserError("dense search needs a model: pass --model (or an index built with one)")
        self.display = self._display_corpus(display)
        self.weights = self._fusion_weights(index)
        from ..data.bible import reference

        self._reference = reference

    def _display_corpus(self, display: str | VerseCorpus | None) -> VerseCorpus:
        if isinstance(display, VerseCorpus):
            return display
        if display is None:
            display = DEFAULT_DISPLAY if DEFAULT_DISPLAY in self.index.corpora else self.index.translations[0]
        code = display.strip().upper()
        return self.index.corpora.get(code) or VerseCorpus.from_translation(code)

    def search(self, query: str, k: int = 10) -> list[SearchHit]:
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: Sequence[str], k: int = 10) -> list[list[SearchHit]]:
        """Search several queries at once (dense queries are embedded in one batch)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UserError(f"-k must be a positive number of results, got {k!r}")
        queries = [validate_query(query, self.config.max_query_chars) for query in queries]
        retrieved = self.retrieve(queries, max(self.config.depth, k))
        return [self.fuse(query, rankings, k) for query, rankings in zip(queries, retrieved, strict=True)]

    def retrieve(self, queries: Sequence[str], depth: int) -> list[Retrieved]:
        """Each query's rankings before fusion: ``(retriever, translation, [(verse id, score), ...])``
        for every retriever and translation, ``depth`` verses each. The weights do not enter here, so
        a weight sweep retrieves once and calls :meth:`fuse` per weight."""
        retrieved: list[Retrieved] = [[] for _ in queries]
        if "bm25" in self.retrievers:
            for code, bm25 in self.index.bm25.items():
                for rankings, ranking in zip(retrieved, bm25.search_batch(queries, depth), strict=True):
                    rankings.append(("bm25", code, ranking))
        if "dense" in self.retrievers:
            embeddings = self.index.encoder.encode_queries(queries)
            for code, dense in self.index.dense.items():
                for rankings, ranking in zip(retrieved, dense.search(embeddings, depth), strict=True):
                    rankings.append(("dense", code, ranking))
        return retrieved

    def _fusion_weights(self, index: SearchIndex) -> dict[str, float]:
        """Each retriever's weight: the configured one, else the model's own, else 1."""
        tuned = index.encoder.fusion_weights if index.encoder is not None else None
        weights = {}
        for retriever in RETRIEVERS:
            configured = getattr(self.config, f"{retriever}_weight")
            if configured is None:
                configured = getattr(tuned, f"{retriever}_weight") if tuned is not None else 1.0
            weights[retriever] = float(configured)
        return weights

    def fuse(
        self, query: str, rankings: Retrieved, k: int, weights: dict[str, float] | None = None
    ) -> list[SearchHit]:
        """The top ``k`` hits of one query from its :meth:`retrieve` rankings, fused by RRF with
        ``weights`` per retriever (default: :attr:`weights`), each split over the translations."""
        weights = self.weights if weights is None else weights
        fused = reciprocal_rank_fusion(
            [[verse_id for verse_id, _ in ranking] for _, _, ranking in rankings],
            k=self.config.rrf_k,
            weights=[weights[retriever] / len(self.index.corpora) for retriever, _, _ in rankings],
        )
        named = reference_verse_ids(query) if self.config.resolve_references else []
        named = {verse_id: rank for rank, verse_id in enumerate(
            (verse_id for verse_id in named if self._text(verse_id) is not None), start=1)}
        scores = dict(fused)
        order = list(named) + [verse_id for verse_id, _ in fused if verse_id not in named]
        positions = [
            {verse_id: (rank, score) for rank, (verse_id, score) in enumerate(ranking, start=1)}
            for _, _, ranking in rankings
        ]
        hits = []
        for rank, verse_id in enumerate(order[:k], start=1):
            matches = []
            if verse_id in named:
                matches.append(Match("reference", None, named[verse_id], None))
            for (retriever, code, _), position in zip(rankings, positions, strict=True):
                if verse_id in position:
                    matches.append(Match(retriever, code, *position[verse_id]))
            translation, text = self._text(verse_id)
            score = None if verse_id in named else scores[verse_id]
            hits.append(SearchHit(rank, verse_id, self._reference(verse_id), text, translation, score, tuple(matches)))
        return hits

    def _text(self, verse_id: int) -> tuple[str, str] | None:
        """Display translation's text, else the first indexed translation that has the verse."""
        for corpus in (self.display, *self.index.corpora.values()):
            if verse_id in corpus:
                return corpus.translation, corpus.text(verse_id)
        return None
