"""Verse search: references first, then every signal's ranking fused by weighted RRF.

Signals, each a ranking of verse ids per query:

- ``bm25``: lexical, over joined verse documents (every translation's wording in one document) or
  per translation; ``dense``: the model's embeddings (per embedded translation);
- ``prior``: the first-stage candidates (bm25 and dense) re-ranked by how many training topics
  judge them (:mod:`.verse_prior`);
- ``memory_bm25`` / ``memory_dense``: the verses judged for the training topics nearest to the
  query, by BM25 over the topic texts / by the model's embeddings of them (:mod:`.topic_memory`).

Rankings are fused per verse id with weighted Reciprocal Rank Fusion, never by adding raw scores
(BM25 scores, cosines and vote counts live on unrelated scales); a signal's weight is split evenly
over its rankings (so adding the KJV's own index lets KJV wording find a verse without doubling
BM25's say against the dense model). The text shown comes from the display translation (WEB by
default). Each hit carries every signal's rank, score and, for the knowledge signals, a sentence
saying why ("topic memory: 'worry' (3rd nearest), 412 votes").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from ..conventions import DEFAULT_TRANSLATION
from ..errors import UserError
from .corpus import VerseCorpus
from .fusion import reciprocal_rank_fusion
from .fusion_weights import SIGNALS, FusionWeights
from .index import SearchIndex
from .verse_prior import prior_detail, prior_ranking

MAX_QUERY_CHARS = 1000  # a long verse is ~550 characters; pasting one to find parallels still works
MAX_RESULTS = 1000  # more hits than anyone reads; bounds the work one request can ask for
RETRIEVERS = SIGNALS
NEEDS_MODEL = ("dense", "memory_dense")


@dataclass(frozen=True)
class Ranking:
    """One signal's ranking for one query: ``hits`` are ``(verse id, score)`` best first; ``details``
    explain some of them in words (the knowledge signals)."""

    retriever: str
    translation: str | None
    hits: list[tuple[int, float]]
    details: dict[int, str] = field(default_factory=dict)


Retrieved = list[Ranking]  # every signal's rankings for one query


@dataclass(frozen=True)
class SearchConfig:
    """How rankings are made and fused.

    ``depth``: verses each retriever ranks per translation before fusion (at least ``k``); the
    prior re-ranks the first-stage candidates within it.
    ``rrf_k``: the RRF constant. ``*_weight``: each signal's total weight in the fusion; left unset,
    they come from the model's :class:`~.fusion_weights.FusionWeights` (hybrid search), else the
    index's (chosen with its knowledge), else 1.
    ``memory_topics``: how many nearest training topics the topic memory draws verses from.
    ``resolve_references``: put verses named by references in the query ("John 3:16") first.
    ``max_query_chars``: longer queries are rejected with a message rather than silently cut,
    since a cut query may no longer say what the user meant.
    """

    depth: int = 100
    rrf_k: float | int = 60
    bm25_weight: float | int | None = None
    dense_weight: float | int | None = None
    prior_weight: float | int | None = None
    memory_bm25_weight: float | int | None = None
    memory_dense_weight: float | int | None = None
    memory_topics: int = 10
    resolve_references: bool = True
    max_query_chars: int = MAX_QUERY_CHARS

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"SearchConfig.depth must be >= 1, got {self.depth}")
        if self.rrf_k < 0:
            raise ValueError(f"SearchConfig.rrf_k must be >= 0, got {self.rrf_k}")
        if self.memory_topics < 1:
            raise ValueError(f"SearchConfig.memory_topics must be >= 1, got {self.memory_topics}")
        for name in (f"{signal}_weight" for signal in SIGNALS):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"SearchConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.max_query_chars < 1:
            raise ValueError(f"SearchConfig.max_query_chars must be >= 1, got {self.max_query_chars}")


@dataclass(frozen=True)
class Match:
    """Where one signal placed a hit: ``retriever`` is "reference" or a signal name; ``detail`` says
    why in words where the rank alone does not (which topic, how many votes)."""

    retriever: str
    translation: str | None
    rank: int
    score: float | None
    detail: str | None = None

    def __str__(self) -> str:
        where = f" {self.translation}" if self.translation else ""
        score = f" {self.score:.3g}" if self.score is not None else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.retriever}{where} #{self.rank}{score}{detail}"


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
    """Search a :class:`SearchIndex`; ``retrievers`` picks among :data:`RETRIEVERS` (default: every
    signal the index can give: bm25, plus dense with a model, plus the prior and memory with knowledge)."""

    def __init__(
        self, index: SearchIndex, *, display: str | VerseCorpus | None = None,
        retrievers: Sequence[str] | None = None, config: SearchConfig | None = None,
    ) -> None:
        self.index = index
        self.config = config or SearchConfig()
        available = available_signals(index)
        self.retrievers = tuple(retrievers or available)
        for name in self.retrievers:
            if name not in RETRIEVERS:
                raise ValueError(f"unknown retriever {name!r}; choose from {RETRIEVERS}")
            if name not in available:
                if name in NEEDS_MODEL and index.encoder is None:
                    raise UserError(f"{name} search needs a model: pass --model (or an index built with one)")
                raise UserError(f"{name} needs topic knowledge: build the index with --judgments "
                                f"(or use the default index)")
        self.display = self._display_corpus(display)
        self.weights = self._fusion_weights(index)

    def _display_corpus(self, display: str | VerseCorpus | None) -> VerseCorpus:
        if isinstance(display, VerseCorpus):
            return display
        if display is None:
            display = DEFAULT_TRANSLATION if DEFAULT_TRANSLATION in self.index.corpora else self.index.translations[0]
        code = display.strip().upper()
        return self.index.corpora[code] if code in self.index.corpora else VerseCorpus.from_translation(code)

    def search(self, query: str, k: int = 10) -> list[SearchHit]:
        return self.search_batch([query], k)[0]

    def notices(self, query: str) -> list[str]:
        """What a user should know about how ``query`` was read: a reference that names no verse
        ("John has 21 chapters"), or no query word known to the model's vocabulary."""
        from .references import reference_notices

        notes = reference_notices(query)
        uses_model = bool(set(NEEDS_MODEL) & set(self.retrievers))
        if uses_model and self.index.encoder is not None and not self.index.encoder.knows_any_word(query):
            notes.append("no word of the query is known to the model: its dense neighbours mean nothing")
        return notes

    def search_batch(self, queries: Sequence[str], k: int = 10) -> list[list[SearchHit]]:
        """Search several queries at once (dense queries are embedded in one batch)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UserError(f"-k must be a positive number of results, got {k!r}")
        queries = [validate_query(query, self.config.max_query_chars) for query in queries]
        retrieved = self.retrieve(queries, max(self.config.depth, k))
        return [self.fuse(query, rankings, k) for query, rankings in zip(queries, retrieved, strict=True)]

    def retrieve(self, queries: Sequence[str], depth: int) -> list[Retrieved]:
        """Each query's rankings before fusion, ``depth`` verses each, for every selected signal. The
        weights do not enter here, so a weight search retrieves once and calls :meth:`fuse` per try.

        The signals search the words outside the references a query names (``resolve_references``):
        a query that is only a reference gets no rankings, and :meth:`fuse` shows just the verses named.
        """
        if self.config.resolve_references:
            from .references import words_outside_references

            words = [words_outside_references(query) for query in queries]
        else:
            words = list(queries)
        searched = [number for number, text in enumerate(words) if text]
        retrieved: list[Retrieved] = [[] for _ in queries]
        found = self._retrieve_words([words[number] for number in searched], depth) if searched else []
        for number, rankings in zip(searched, found, strict=True):
            retrieved[number] = rankings
        return retrieved

    def _retrieve_words(self, queries: Sequence[str], depth: int) -> list[Retrieved]:
        """:meth:`retrieve` for queries with words to search."""
        retrieved: list[Retrieved] = [[] for _ in queries]
        wanted = set(self.retrievers)
        # The prior re-ranks the first-stage candidates; without bm25 or dense among the signals (an
        # ablation) it still takes BM25's candidates, whose own ranking is then left out of the fusion.
        first_stage = {"bm25", "dense"} & wanted or ({"bm25"} if "prior" in wanted else set())
        if "bm25" in first_stage:
            for code, bm25 in self.index.bm25.items():
                for rankings, hits in zip(retrieved, bm25.search_batch(queries, depth), strict=True):
                    rankings.append(Ranking("bm25", code, hits))
        embeddings = None
        if {"dense", "memory_dense"} & wanted:
            embeddings = self.index.encoder.encode_queries(queries)
        if "dense" in first_stage:
            for code, dense in self.index.dense.items():
                for rankings, hits in zip(retrieved, dense.search(embeddings, depth), strict=True):
                    rankings.append(Ranking("dense", code, hits))
        knowledge, memory = self.index.knowledge, self.index.memory
        for number, (query, rankings) in enumerate(zip(queries, retrieved, strict=True)):
            if "prior" in wanted:
                hits = prior_ranking(_interleave([r.hits for r in rankings]), knowledge.prior)[:depth]
                rankings.append(Ranking("prior", None, hits, {v: prior_detail(c) for v, c in hits}))
            if "memory_bm25" in wanted:
                hits, details = memory.recall(memory.nearest_bm25(query, self.config.memory_topics), depth)
                rankings.append(Ranking("memory_bm25", None, self._indexed(hits), details))
            if "memory_dense" in wanted:
                nearest = memory.nearest_dense(embeddings[number], self.config.memory_topics)
                hits, details = memory.recall(nearest, depth)
                rankings.append(Ranking("memory_dense", None, self._indexed(hits), details))
            rankings[:] = [ranking for ranking in rankings if ranking.retriever in wanted]
        return retrieved

    def _fusion_weights(self, index: SearchIndex) -> dict[str, float]:
        """Each signal's weight: the configured one, else the model's (hybrid search), else the
        index's, else 1."""
        tuned = index.encoder.fusion_weights if index.encoder is not None else None
        tuned = tuned or index.fusion or FusionWeights()
        weights = {}
        for signal in RETRIEVERS:
            configured = getattr(self.config, f"{signal}_weight")
            weights[signal] = float(tuned.weight(signal) if configured is None else configured)
        if len(set(self.retrievers)) == 1:  # one signal ranks alone: a weight only matters against others,
            weights[self.retrievers[0]] = 1.0  # and a tuned 0 (it added nothing to the hybrid) would leave no hits
        return weights

    def fused_ids(self, rankings: Retrieved, weights: Mapping[str, float] | None = None) -> list[tuple[int, float]]:
        """Weighted RRF of one query's rankings: ``(verse id, score)`` best first, each signal's
        weight split over its rankings."""
        weights = self.weights if weights is None else weights
        count = {signal: sum(r.retriever == signal for r in rankings) for signal in RETRIEVERS}
        return reciprocal_rank_fusion(
            [[verse_id for verse_id, _ in ranking.hits] for ranking in rankings],
            k=self.config.rrf_k,
            weights=[weights[r.retriever] / count[r.retriever] for r in rankings],
        )

    def fuse(
        self, query: str, rankings: Retrieved, k: int, weights: Mapping[str, float] | None = None
    ) -> list[SearchHit]:
        """The top ``k`` hits of one query from its :meth:`retrieve` rankings, fused by weighted RRF
        (default weights: :attr:`weights`); verses named by references in the query come first."""
        from ..data.bible import reference

        fused = self.fused_ids(rankings, weights)
        named = _referenced(query) if self.config.resolve_references else []
        named = {verse_id: rank for rank, verse_id in enumerate(
            (verse_id for verse_id in named if self._text(verse_id) is not None), start=1)}
        scores = dict(fused)
        order = list(named) + [verse_id for verse_id, _ in fused if verse_id not in named and scores[verse_id] > 0]
        positions = [
            {verse_id: (rank, score) for rank, (verse_id, score) in enumerate(ranking.hits, start=1)}
            for ranking in rankings
        ]
        hits = []
        for verse_id in order:
            if len(hits) == k:
                break
            shown = self._text(verse_id)
            if shown is None:  # judged for a training topic, but in none of the indexed translations
                continue
            rank = len(hits) + 1
            matches = []
            if verse_id in named:
                matches.append(Match("reference", None, named[verse_id], None))
            for ranking, position in zip(rankings, positions, strict=True):
                if verse_id in position:
                    matches.append(Match(ranking.retriever, ranking.translation, *position[verse_id],
                                         ranking.details.get(verse_id)))
            translation, text = shown
            score = None if verse_id in named else scores[verse_id]
            hits.append(SearchHit(rank, verse_id, reference(verse_id), text, translation, score, tuple(matches)))
        return hits

    def _indexed(self, hits: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """The topic memory's verses that this index can show. The memory holds every verse judged for a
        training topic; ranking one the index lacks would be fused, scored (by the weight search too)
        and then never shown, so the weights would be chosen for a search users do not get."""
        return [(verse_id, score) for verse_id, score in hits if self._text(verse_id) is not None]

    def _text(self, verse_id: int) -> tuple[str, str] | None:
        """Display translation's text, else the first indexed translation that has the verse."""
        if verse_id in self.display:
            return self.display.translation, self.display.text(verse_id)
        for code in self.index.corpora:  # read lazily: most verses are in the display translation
            corpus = self.index.corpora[code]
            if verse_id in corpus:
                return corpus.translation, corpus.text(verse_id)
        return None


def available_signals(index: SearchIndex) -> tuple[str, ...]:
    """The signals an index can give: bm25 always, dense with a model, the knowledge ones with knowledge."""
    signals = ["bm25"]
    if index.encoder is not None:
        signals.append("dense")
    if index.memory is not None:
        signals += ["prior", "memory_bm25"] + (["memory_dense"] if index.encoder is not None else [])
    return tuple(signals)


def _interleave(rankings: Sequence[list[tuple[int, float]]]) -> list[int]:
    """Verse ids of several rankings taken rank by rank (first of each, then second of each, ...)."""
    merged = []
    for position in range(max((len(r) for r in rankings), default=0)):
        merged.extend(ranking[position][0] for ranking in rankings if position < len(ranking))
    return merged


def _referenced(query: str) -> list[int]:
    """Verse ids named by references in the query; a reference needs a chapter number, so a query
    without digits skips the parser (and its import)."""
    if not any(character.isdigit() for character in query):
        return []
    from .references import reference_verse_ids

    return reference_verse_ids(query)
