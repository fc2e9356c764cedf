"""The verse prior: among a query's candidates, the verses that many training topics judge.

People look for a few hundred verses far more often than the rest (Jeremiah 29:11, Philippians
4:13, ...). Ranking a query's own candidates by how many training topics judge them, and fusing that
ranking by RRF, lifts the verses people want without letting a popular verse that has nothing to do
with the query in: a verse must already be a candidate. Counts are never added to BM25 scores,
whose scale changes from query to query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def prior_ranking(candidates: Sequence[int], counts: Mapping[int, int]) -> list[tuple[int, float]]:
    """``candidates`` (best first, repeats ignored) that some topic judges, by topic count, then in
    their candidate order; each with its count as score."""
    unique = list(dict.fromkeys(candidates))
    judged = [(verse_id, counts.get(verse_id, 0)) for verse_id in unique]
    ranked = sorted((item for item in judged if item[1] > 0), key=lambda item: -item[1])  # stable: ties keep order
    return [(verse_id, float(count)) for verse_id, count in ranked]


def prior_detail(count: float) -> str:
    return f"judged by {int(count)} training topic{'s' if count != 1 else ''}"
