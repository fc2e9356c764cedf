"""Ranking metrics through ``ranx``: graded judgments + our rankings → NDCG@10, P@10, R@100, MRR@10.

``ranx`` JIT-compiles its metrics on first use (tens of seconds), which is fine offline and is why
it is imported here and never in the query path. Conventions, fixed here so a hand computation in
a test can check them:

- Gains are the grades themselves (ranx's ``ndcg``: ``sum grade_i / log2(i + 1)``), normalised by
  the ideal ordering of *all* judged verses, including ones a system cannot retrieve.
- P@10, R@100 and MRR@10 count a verse as relevant when its grade is >= 1.
- A ranking is an ordered list of verse ids; it reaches ranx as scores ``len - position``, so ranx's
  own tie-breaking never reorders it. Topics with an empty ranking score 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from ..data.openbible import Judgments, topic_query_id, verse_doc_id
from ..errors import require

METRICS = ("ndcg@10", "precision@10", "recall@100", "mrr@10")
METRIC_LABELS = {"ndcg@10": "NDCG@10", "precision@10": "P@10", "recall@100": "Recall@100", "mrr@10": "MRR@10"}
STAT_TESTS = ("student", "fisher", "tukey")

Rankings = Mapping[str, Sequence[int]]  # topic -> verse ids, best first


@contextmanager
def _quiet_numba():
    """ranx's compiled metrics warn about an unsigned-to-signed cast of its own counters; harmless."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unsafe cast from uint64 to int64")
        yield


def qrels_dict(judgments: Judgments) -> dict[str, dict[str, int]]:
    return {
        topic_query_id(topic): {verse_doc_id(verse_id): grade for verse_id, grade in grades.items()}
        for topic, grades in judgments.qrels.items()
    }


def run_dict(rankings: Rankings) -> dict[str, dict[str, float]]:
    """ranx run: ranked verse ids as strictly decreasing scores; empty rankings are left out."""
    run = {}
    for topic, verse_ids in rankings.items():
        unique = list(dict.fromkeys(verse_ids))
        if unique:
            run[topic_query_id(topic)] = {verse_doc_id(v): float(len(unique) - i) for i, v in enumerate(unique)}
    return run


def _ranx_objects(judgments: Judgments, rankings: Rankings, name: str):
    ranx = require("ranx", "eval")
    qrels = ranx.Qrels.from_dict(qrels_dict(judgments))
    run_data = run_dict(rankings)
    if not run_data:  # ranx cannot hold an empty run; one harmless non-relevant entry stands in
        run_data = {next(iter(qrels_dict(judgments))): {"00000000": 1.0}}
    return ranx, qrels, ranx.Run.from_dict(run_data, name=name)


def evaluate(judgments: Judgments, rankings: Rankings, metrics: Sequence[str] = METRICS) -> dict[str, float]:
    """Mean of each metric over every judged topic (topics missing from ``rankings`` count as 0)."""
    ranx, qrels, run = _ranx_objects(judgments, rankings, "run")
    with _quiet_numba():
        scores = ranx.evaluate(qrels, run, list(metrics), make_comparable=True)
    if len(metrics) == 1:
        scores = {metrics[0]: scores}
    return {metric: float(scores[metric]) for metric in metrics}


@dataclass(frozen=True)
class Comparison:
    """Mean scores per system, and per system the paired test's p-values against the baseline."""

    scores: dict[str, dict[str, float]]
    p_values: dict[str, dict[str, float]]
    baseline: str
    stat_test: str
    max_p: float

    def significant(self, system: str, metric: str) -> bool:
        return system != self.baseline and self.p_values[system][metric] < self.max_p


def _p_value(value) -> float:
    """ranx's p-value; a paired test of identical scores on every topic gives NaN (no variance): no
    difference, p = 1 (a hybrid whose dense weight is 0 ranks exactly as BM25 does)."""
    value = float(value)
    return 1.0 if math.isnan(value) else value


def compare(
    judgments: Judgments, runs: Mapping[str, Rankings], *, baseline: str, metrics: Sequence[str] = METRICS,
    stat_test: str = "student", max_p: float = 0.05,
) -> Comparison:
    """Evaluate several systems on the same topics with a paired significance test against ``baseline``
    (ranx ``compare``; ``student`` is the two-sided paired t-test, ``fisher`` a randomization test)."""
    if baseline not in runs:
        raise ValueError(f"baseline {baseline!r} is not among the runs {list(runs)}")
    if stat_test not in STAT_TESTS:
        raise ValueError(f"stat_test must be one of {STAT_TESTS}, got {stat_test!r}")
    ranx = require("ranx", "eval")
    qrels = None
    ranx_runs = []
    for name, rankings in runs.items():
        _, qrels, run = _ranx_objects(judgments, rankings, name)
        ranx_runs.append(run)
    with _quiet_numba():
        report = ranx.compare(
            qrels, ranx_runs, list(metrics), stat_test=stat_test, max_p=max_p, make_comparable=True, rounding_digits=4
        )
    scores = {name: {m: float(report.results[name][m]) for m in metrics} for name in runs}
    p_values = {
        name: {m: (1.0 if name == baseline else _p_value(report.comparisons[name, baseline][m]["p_value"]))
               for m in metrics}
        for name in runs
    }
    return Comparison(scores, p_values, baseline, stat_test, max_p)


def mean_ndcg(judgments: Judgments, rankings: Rankings, k: int = 10) -> float:
    """NDCG@k with :func:`evaluate`'s conventions (gains = grades, ideal over every judged verse,
    missing topics 0), in plain Python: a weight search scores hundreds of fusions, and ranx's
    per-call set-up would dominate it. :func:`evaluate` stays the reference for reported numbers."""
    total = 0.0
    for topic, grades in judgments.qrels.items():
        ideal = sorted(grades.values(), reverse=True)[:k]
        ideal_dcg = sum(grade / math.log2(rank + 2) for rank, grade in enumerate(ideal))
        ranked = list(dict.fromkeys(rankings.get(topic, ())))[:k]
        dcg = sum(grades.get(verse_id, 0) / math.log2(rank + 2) for rank, verse_id in enumerate(ranked))
        total += dcg / ideal_dcg if ideal_dcg else 0.0
    return total / len(judgments.qrels) if judgments.qrels else 0.0
