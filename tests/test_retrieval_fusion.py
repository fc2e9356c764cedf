"""Reciprocal Rank Fusion arithmetic and tie-breaks, and exact top-k selection."""

from __future__ import annotations

import numpy as np
import pytest

from versebert.retrieval import reciprocal_rank_fusion
from versebert.retrieval.topk import top_k


def test_rrf_scores_are_sums_of_reciprocal_ranks():
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)


def test_rrf_orders_by_fused_score():
    # a: 1/61 + 1/62, c: 1/63 + 1/61 (> b's 1/62), b last
    assert [item for item, _ in reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]])] == ["a", "c", "b"]


def test_rrf_weights_scale_each_ranking():
    fused = dict(reciprocal_rank_fusion([["a"], ["b"]], k=0, weights=[1.0, 3.0]))
    assert fused == {"a": pytest.approx(1.0), "b": pytest.approx(3.0)}
    assert [item for item, _ in reciprocal_rank_fusion([["a"], ["b"]], k=0, weights=[1.0, 3.0])] == ["b", "a"]


def test_rrf_with_one_empty_ranking_returns_the_other_in_its_order():
    ranking = [5, 3, 9, 1, 7]
    assert [item for item, _ in reciprocal_rank_fusion([[], ranking])] == ranking
    assert [item for item, _ in reciprocal_rank_fusion([ranking, []])] == ranking


def test_rrf_of_nothing_is_empty():
    assert reciprocal_rank_fusion([[], []]) == []
    assert reciprocal_rank_fusion([]) == []


def test_rrf_ties_go_to_the_better_best_rank_then_the_earlier_ranking():
    # x: ranks 1 and 3; y: ranks 2 and 2 -> 1/61 + 1/63 != 2/62, so build exact ties instead:
    # p is #1 in ranking 0 and #2 in ranking 1; q is #2 in ranking 0 and #1 in ranking 1.
    fused = reciprocal_rank_fusion([["p", "q"], ["q", "p"]])
    assert fused[0][1] == fused[1][1]
    assert [item for item, _ in fused] == ["p", "q"]  # both best rank 1; p reaches it in ranking 0
    assert [item for item, _ in reciprocal_rank_fusion([["q", "p"], ["p", "q"]])] == ["q", "p"]
    # single-ranking ties: r and s only appear at rank 1 of different rankings with equal weight
    assert [item for item, _ in reciprocal_rank_fusion([["s"], ["r"]])] == ["s", "r"]


def test_a_ranking_of_weight_zero_changes_nothing_not_even_a_tie_break():
    # p and q tie (ranks 2 and 3 each), p reaching rank 2 first; the zero-weight ranking, counted in the
    # tie-break, would give q the better best rank (1) and put it first
    weighted = [["x", "p", "q"], ["y", "q", "p"]]
    with_zero = reciprocal_rank_fusion([["q"], *weighted], weights=[0.0, 1.0, 1.0])
    assert with_zero == reciprocal_rank_fusion(weighted)
    assert [item for item, _ in with_zero] == ["p", "q", "x", "y"]
    rng = np.random.default_rng(0)
    for _ in range(50):  # random rankings full of ties: weight 0 is the same as removal
        rankings = [list(rng.permutation(12)[: rng.integers(1, 12)]) for _ in range(4)]
        weights = [float(w) for w in rng.choice([0.0, 0.5, 1.0], size=4)]
        kept = [(ranking, weight) for ranking, weight in zip(rankings, weights, strict=True) if weight]
        assert reciprocal_rank_fusion(rankings, weights=weights) == reciprocal_rank_fusion(
            [ranking for ranking, _ in kept], weights=[weight for _, weight in kept])


def test_rrf_tie_break_does_not_depend_on_hashing_or_item_type():
    fused = reciprocal_rank_fusion([[30, 20, 10], [10, 20, 30]])
    assert [item for item, _ in fused] == [30, 10, 20]  # 30 and 10 tie (1/61 + 1/63); 30 is first in ranking 0


def test_rrf_scores_do_not_depend_on_ranking_order():
    rankings = [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    forward = dict(reciprocal_rank_fusion(rankings))
    backward = dict(reciprocal_rank_fusion(rankings[::-1]))
    assert forward == backward  # exact equality: fsum is order independent
    assert len(set(forward.values())) == 1


def test_rrf_counts_a_repeated_item_once_per_ranking():
    assert dict(reciprocal_rank_fusion([["a", "a", "b"]], k=0)) == {"a": 1.0, "b": pytest.approx(1 / 3)}


@pytest.mark.parametrize("kwargs, message", [
    ({"k": -1}, "k must be >= 0"),
    ({"weights": [1.0]}, "1 weights for 2 rankings"),
    ({"weights": [1.0, -1.0]}, "weights must be >= 0"),
])
def test_rrf_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        reciprocal_rank_fusion([["a"], ["b"]], **kwargs)


def test_top_k_is_exact_and_breaks_ties_by_index():
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.9, 0.5], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [1, 4, 0]
    assert top_k(scores, 4).tolist() == [1, 4, 0, 2]
    assert top_k(scores, 100).tolist() == [1, 4, 0, 2, 5, 3]


def test_top_k_positive_only_drops_zero_scores():
    scores = np.array([0.0, 2.0, 0.0, 1.0], dtype=np.float32)
    assert top_k(scores, 10, positive_only=True).tolist() == [1, 3]
    assert top_k(np.zeros(5, dtype=np.float32), 3, positive_only=True).tolist() == []


def test_top_k_matches_a_full_sort_on_random_scores():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, size=500).astype(np.float32)  # many ties
    expected = sorted(range(500), key=lambda i: (-scores[i], i))[:37]
    assert top_k(scores, 37).tolist() == expected
