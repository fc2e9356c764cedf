"""Reciprocal Rank Fusion: merge rankings by rank alone, so BM25 scores and cosine similarities,
which live on unrelated scales, never have to be calibrated against each other."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hashable]], k: float = 60, weights: Sequence[float] | None = None
) -> list[tuple[Hashable, float]]:
    """Fuse ``rankings`` (each best first) into one ranking of ``(item, score)``, best first.

    ``score(d) = sum_i weights[i] / (k + rank_i(d))`` over the rankings that contain ``d``, with
    ranks starting at 1 (Cormack et al., 2009); ``k`` damps the advantage of the very top ranks.
    A repeated item within one ranking counts at its first position only.

    Ties (equal fused scores) are broken by the item's best rank in any ranking, then by the
    position of the first ranking that reaches that best rank; so the result is deterministic and
    independent of hashing, and a single non-empty ranking comes back in its own order. Scores are
    summed with :func:`math.fsum`, so they do not depend on the order of the rankings either.
    A ranking of weight 0 is left out altogether, tie-breaks included: weighing a signal 0 is the same
    as not having it (the fusion tuner's sweep and the evaluation's ablation then agree).
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"got {len(weights)} weights for {len(rankings)} rankings")
    if any(weight < 0 for weight in weights):
        raise ValueError(f"weights must be >= 0, got {list(weights)}")

    contributions: dict[Hashable, list[float]] = {}
    first_reached: dict[Hashable, tuple[int, int]] = {}  # item -> (best rank, ranking index)
    for ranking_index, (ranking, weight) in enumerate(zip(rankings, weights, strict=True)):
        if weight == 0:
            continue
        seen = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            contributions.setdefault(item, []).append(weight / (k + rank))
            first_reached[item] = min(first_reached.get(item, (rank, ranking_index)), (rank, ranking_index))
    fused = {item: math.fsum(parts) for item, parts in contributions.items()}
    order = sorted(fused, key=lambda item: (-fused[item], first_reached[item]))
    return [(item, fused[item]) for item in order]
