"""Choose the RRF weight of each signal on judged topics (see :mod:`~..retrieval.fusion_weights`).

Coordinate ascent over a small grid: starting from equal weights, each signal's weight in turn is
set to the grid value with the best NDCG@10 (the others held), for a few passes or until nothing
improves. BM25's weight stays 1 (the anchor: scaling every weight alike changes no ranking), and a
tie goes to the value nearest plain RRF (1), so a weight only moves when it measurably helps. Each
query is retrieved once; a try only re-fuses the rankings, so a search over five signals takes
seconds. ranx stays out of it (its first call compiles for tens of seconds, PITFALL 21): NDCG@10 is
computed in plain Python with the same conventions.

With the weights chosen on the dev topics, dev numbers of the tuned fusion are optimistic; the
result therefore also records the equal-weight NDCG@10 on the same topics.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..data.openbible import Judgments
from ..retrieval.fusion_weights import SIGNALS, FusionWeights
from ..retrieval.searcher import validate_query
from .metrics import mean_ndcg

WEIGHT_GRID = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)
SELECTION_METRIC = "ndcg@10"
PASSES = 3


def choose_fusion_weights(
    index, judgments: Judgments, *, signals: Sequence[str] | None = None, grid: Sequence[float] = WEIGHT_GRID,
    depth: int = 100, chosen_on: str = "", passes: int = PASSES, config=None,
) -> FusionWeights:
    """Weights of ``signals`` (default: every signal ``index`` gives) for search over ``index``,
    chosen on ``judgments``' topics. ``config`` is the :class:`~..retrieval.SearchConfig` otherwise used."""
    from ..retrieval import SearchConfig, VerseSearcher
    from ..retrieval.searcher import available_signals

    signals = tuple(signals or available_signals(index))
    if "dense" in signals and index.encoder is None:
        raise ValueError("fusion weights for the dense signal need an index with a dense model")
    if len(signals) < 2:
        raise ValueError(f"fusion weights need at least two signals to weigh, got {list(signals)}")
    if not grid or any(weight < 0 for weight in grid):
        raise ValueError(f"grid must hold weights >= 0, got {list(grid)}")
    config = config or SearchConfig(depth=depth)
    searcher = VerseSearcher(index, retrievers=signals, config=config)
    topics = judgments.topics
    retrieved = searcher.retrieve([validate_query(topic) for topic in topics], depth)  # once for every try

    def score(weights: dict[str, float]) -> float:
        if not any(weights.values()):
            return -1.0
        rankings = {
            topic: [verse_id for verse_id, fused in searcher.fused_ids(rankings, weights)[:10] if fused > 0]
            for topic, rankings in zip(topics, retrieved, strict=True)
        }
        return round(ndcg(judgments, rankings), 6)

    anchor = "bm25" if "bm25" in signals else signals[0]
    weights = {signal: 1.0 for signal in signals}
    equal = best = score(weights)
    ordered_grid = sorted(dict.fromkeys(float(w) for w in grid), key=lambda w: (abs(w - 1.0), w))
    for _ in range(passes):
        improved = False
        for signal in signals:
            if signal == anchor:
                continue
            for weight in ordered_grid:  # nearest 1 first: a tie keeps the value closer to plain RRF
                trial = score(weights | {signal: weight})
                if trial > best:
                    best, weights, improved = trial, weights | {signal: weight}, True
        if not improved:
            break
    sweep = {}
    if "dense" in signals:
        sweep = {float(w): score(weights | {"dense": float(w)}) for w in grid}
    return FusionWeights.from_mapping(dict.fromkeys(SIGNALS, 1.0) | weights, chosen_on=chosen_on, sweep=sweep,
                                      tuned_ndcg=best, equal_ndcg=equal)


def tune_model_fusion(
    model_dir, translation: str, train_topics, dev_topics, *, index_cache=None,
    joined: Sequence[str] | None = None, show_progress: bool = True,
):
    """The model's index with every signal (BM25 over verse documents joining ``joined``, default the
    whole Bibles; dense over ``translation``; verse prior and topic memory from ``train_topics``,
    default the packaged ones) and its fusion weights chosen on ``dev_topics``, saved into
    ``model_dir`` for ``versebert search`` and the evaluation. Dev topics the knowledge holds are
    refused before anything is embedded. Returns ``(index, weights)``."""
    from pathlib import Path

    from ..conventions import WHOLE_BIBLES
    from ..data.openbible import load_judgments
    from ..retrieval import VerseCorpus
    from ..retrieval.default_index import default_search_index
    from .harness import check_honest, full_search_index, knowledge_file, model_search_index

    dev = load_judgments(dev_topics)
    knowledge_index = default_search_index(joined or WHOLE_BIBLES, knowledge=knowledge_file(train_topics),
                                           show_progress=show_progress)
    check_honest(knowledge_index.knowledge, dev, str(train_topics or "the packaged train topics"))
    corpus = VerseCorpus.from_translation(translation)
    model_index = model_search_index(Path(model_dir), corpus, index_cache=index_cache, show_progress=show_progress)
    index = full_search_index(knowledge_index, model_index)
    chosen_on = f"{Path(dev_topics).name} over joined {','.join(index.translations)}"
    weights = choose_fusion_weights(index, dev, chosen_on=chosen_on)
    weights.save(Path(model_dir))
    return index, weights


def ndcg(judgments: Judgments, rankings) -> float:
    return mean_ndcg(judgments, rankings, 10)


__all__ = ["WEIGHT_GRID", "choose_fusion_weights"]
