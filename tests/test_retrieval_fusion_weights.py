"""A model's own RRF weights: chosen on judged topics, saved beside the model, used by search."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_retrieval_support import build_tiny_sentence_transformer, web_corpus
from versebert.data.openbible import Judgments, RelevanceRule
from versebert.errors import UserError
from versebert.evaluation.fusion_tuning import choose_fusion_weights
from versebert.evaluation.metrics import evaluate
from versebert.retrieval import DenseEncoder, DenseIndex, SearchConfig, SearchIndex, VerseSearcher
from versebert.retrieval.dense import model_fingerprint
from versebert.retrieval.fusion_weights import FUSION_FILE, FusionWeights

# Topics whose words BM25 matches in the judged verse, so BM25 alone is perfect on them and a
# random dense model can only dilute it.
QRELS = {
    "new heart": {26036026: 3},
    "cheerful giver": {47009007: 2},
    "Jesus wept": {43011035: 2},
    "saved through faith": {49002008: 1},
}


def judgments() -> Judgments:
    return Judgments(qrels=QRELS, votes={t: {v: 10 for v in g} for t, g in QRELS.items()},
                     rule=RelevanceRule(), source="toy")


@pytest.fixture
def model_dir(tmp_path):
    return build_tiny_sentence_transformer(tmp_path / "st", seed=3)


def index_for(model_dir):
    return SearchIndex.build([web_corpus()], DenseEncoder(model_dir), show_progress=False)


def test_weights_round_trip_through_the_model_directory(tmp_path):
    weights = FusionWeights(bm25_weight=1.0, dense_weight=0.25, chosen_on="toy", sweep={0.0: 0.5, 0.25: 0.75})
    weights.save(tmp_path)
    assert FusionWeights.load(tmp_path) == weights
    assert FusionWeights.load(tmp_path / "elsewhere") is None


@pytest.mark.parametrize("content", ["{not json", '{"dense_weight": -1}', '{"colour": "blue"}'])
def test_a_broken_weights_file_is_a_clear_error(tmp_path, content):
    (tmp_path / FUSION_FILE).write_text(content)
    with pytest.raises(UserError, match="fusion-weights file"):
        FusionWeights.load(tmp_path)


def test_all_weights_zero_is_refused():
    with pytest.raises(ValueError, match="cannot all be 0"):
        FusionWeights(bm25_weight=0, dense_weight=0, prior_weight=0, memory_bm25_weight=0, memory_dense_weight=0)


def test_a_file_from_before_the_knowledge_signals_loads_them_at_weight_one(tmp_path):
    (tmp_path / FUSION_FILE).write_text('{"bm25_weight": 1.0, "dense_weight": 0.5, "chosen_on": "old", "sweep": []}')
    weights = FusionWeights.load(tmp_path)
    assert weights.as_mapping() == {"bm25": 1.0, "dense": 0.5, "prior": 1.0, "memory_bm25": 1.0, "memory_dense": 1.0}


def test_all_five_weights_round_trip(tmp_path):
    weights = FusionWeights(prior_weight=0.5, memory_bm25_weight=3.0, memory_dense_weight=0.0,
                            tuned_ndcg=0.2, equal_ndcg=0.18, chosen_on="dev")
    weights.save(tmp_path)
    assert FusionWeights.load(tmp_path) == weights


def test_search_uses_the_models_weights_unless_the_config_sets_them(model_dir):
    assert VerseSearcher(index_for(model_dir)).weights == {"bm25": 1.0, "dense": 1.0, "prior": 1.0,
                                                          "memory_bm25": 1.0, "memory_dense": 1.0}
    FusionWeights(bm25_weight=1.0, dense_weight=0.0).save(model_dir)
    index = index_for(model_dir)
    bm25_only = VerseSearcher(SearchIndex.build([web_corpus()], show_progress=False))
    tuned = VerseSearcher(index)
    assert (tuned.weights["bm25"], tuned.weights["dense"]) == (1.0, 0.0)
    query = "a new spirit within you"
    # Dense weight 0: BM25's hits come first in BM25's order, dense-only verses trail them.
    bm25_ids = [hit.verse_id for hit in bm25_only.search(query, k=10)]
    assert [hit.verse_id for hit in tuned.search(query, k=10)][: len(bm25_ids)] == bm25_ids
    explicit = VerseSearcher(index, config=SearchConfig(dense_weight=2.0))
    assert (explicit.weights["bm25"], explicit.weights["dense"]) == (1.0, 2.0)


def test_the_weights_file_leaves_the_model_fingerprint_alone(model_dir):
    before = model_fingerprint(model_dir)
    FusionWeights(dense_weight=0.5).save(model_dir)
    assert model_fingerprint(model_dir) == before, "an index built before must stay valid"


def scrambled_dense_index(model_dir):
    """BM25 + a dense index whose verse vectors are noise: a dense ranking unrelated to the topics
    (a random model's mean-pooled embeddings still match words, so they would not do)."""
    index = index_for(model_dir)
    corpus = web_corpus()
    noise = np.random.default_rng(0).normal(size=(len(corpus), index.encoder.dimension)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    dense = {corpus.translation: DenseIndex(corpus.verse_ids, noise)}
    return SearchIndex({corpus.translation: corpus}, index.bm25, dense, index.encoder)


def test_the_sweep_picks_the_weight_with_the_best_hybrid_ndcg(model_dir):
    index = scrambled_dense_index(model_dir)
    # On ten verses RRF (k = 60) barely moves with the weight; 100 lets the noise decide.
    chosen = choose_fusion_weights(index, judgments(), grid=(0.0, 1.0, 100.0), depth=10, chosen_on="toy")
    assert list(chosen.sweep) == [0.0, 1.0, 100.0] and chosen.chosen_on == "toy"
    assert chosen.sweep[chosen.dense_weight] == max(chosen.sweep.values())
    # Each sweep value is what search with that weight scores, computed independently here.
    for weight, ndcg in chosen.sweep.items():
        searcher = VerseSearcher(index, config=SearchConfig(depth=10, bm25_weight=1.0, dense_weight=weight))
        rankings = {t: [hit.verse_id for hit in searcher.search(t, k=10)] for t in QRELS}
        assert ndcg == pytest.approx(evaluate(judgments(), rankings, ["ndcg@10"])["ndcg@10"], abs=1e-6)
    # BM25 alone ranks every judged verse first; noise can only dilute it.
    assert chosen.sweep[0.0] == pytest.approx(1.0) and chosen.sweep[100.0] < 1.0
    assert chosen.dense_weight == (1.0 if chosen.sweep[1.0] == chosen.sweep[0.0] else 0.0)


def test_ties_go_to_the_weight_nearest_plain_rrf(model_dir, monkeypatch):
    import versebert.evaluation.fusion_tuning as tuning

    monkeypatch.setattr(tuning, "ndcg", lambda *args, **kwargs: 0.5)
    chosen = choose_fusion_weights(index_for(model_dir), judgments(), grid=(0.0, 0.5, 1.0, 2.0), depth=10)
    assert chosen.dense_weight == 1.0


def test_the_sweep_needs_a_dense_model():
    with pytest.raises(ValueError, match="dense model"):
        choose_fusion_weights(SearchIndex.build([web_corpus()], show_progress=False), judgments(),
                              signals=["bm25", "dense"])

