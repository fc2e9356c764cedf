"""Exact, deterministic top-k selection over a score vector."""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int, *, positive_only: bool = False) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first; ties go to the lower index (corpus order).

    ``positive_only`` drops scores <= 0: a BM25 score of 0 means no query term occurs in the
    document, so such a document is not a match at all (and must not earn fusion credit).
    ``k`` may exceed the number of candidates; fewer indices come back then.
    """
    candidates = np.flatnonzero(scores > 0) if positive_only else np.arange(scores.shape[0])
    if k <= 0 or candidates.size == 0:
        return candidates[:0]
    if candidates.size > k:
        # Everything strictly above the k-th best score, plus enough of the ties at it.
        threshold = np.partition(scores[candidates], candidates.size - k)[candidates.size - k]
        candidates = candidates[scores[candidates] >= threshold]
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order[:k]]
