"""Choose a model's hybrid-search weights on judged topics (see :mod:`~..retrieval.fusion_weights`).

BM25's weight stays 1 and the dense weight is swept over a small grid; the weight with the best
hybrid NDCG@10 wins, ties going to the one closest to plain RRF (1). Nine values are one parameter:
little room to overfit even when, as in the pipeline, they are picked on the dev topics that also
pick the stage-B checkpoint (the model card says so).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..data.openbible import Judgments
from ..retrieval.fusion_weights import FusionWeights
from ..retrieval.searcher import validate_query
from .metrics import evaluate

DENSE_WEIGHT_GRID = (0.0, 0.125, 0.25, 0.5, 1.0, 1.5, 2.0, 4.0, 8.0)
SELECTION_METRIC = "ndcg@10"


def choose_fusion_weights(
    index, judgments: Judgments, *, grid: Sequence[float] = DENSE_WEIGHT_GRID, depth: int = 100, chosen_on: str = ""
) -> FusionWeights:
    """Sweep the dense weight of hybrid search over ``index`` (BM25 + dense) on ``judgments``' topics."""
    from ..retrieval import SearchConfig, VerseSearcher

    if index.encoder is None:
        raise ValueError("fusion weights need an index with a dense model")
    if not grid or any(weight < 0 for weight in grid):
        raise ValueError(f"grid must hold dense weights >= 0, got {list(grid)}")
    searcher = VerseSearcher(index, retrievers=["bm25", "dense"], config=SearchConfig(depth=depth))
    topics = judgments.topics
    retrieved = searcher.retrieve([validate_query(topic) for topic in topics], depth)  # once for every weight
    sweep = {}
    for weight in grid:
        weights = {"bm25": 1.0, "dense": float(weight)}
        rankings = {
            topic: [hit.verse_id for hit in searcher.fuse(topic, rankings, depth, weights)]
            for topic, rankings in zip(topics, retrieved, strict=True)
        }
        sweep[float(weight)] = round(evaluate(judgments, rankings, [SELECTION_METRIC])[SELECTION_METRIC], 6)
    best = max(sweep, key=lambda weight: (sweep[weight], -abs(weight - 1.0)))
    return FusionWeights(bm25_weight=1.0, dense_weight=best, chosen_on=chosen_on, sweep=sweep)


__all__ = ["DENSE_WEIGHT_GRID", "choose_fusion_weights"]
