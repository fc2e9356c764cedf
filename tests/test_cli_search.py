"""``versebert search`` / ``index`` / ``evaluate`` from the outside: exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.test_retrieval_support import kjv_corpus, web_corpus
from versebert.commands.search import format_hits
from versebert.retrieval import SearchIndex, VerseSearcher


def versebert(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-m", "versebert.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def assert_user_error(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("versebert ") and message in lines[0]


@pytest.mark.parametrize("query, message", [
    ("", "empty query"),
    ("x" * 10_000, "query is 10,000 characters long; the limit is 1,000"),
])
def test_bad_queries_exit_2_with_one_line(query, message):
    assert_user_error(versebert("search", query), message)


def test_unknown_translation_exits_2():
    assert_user_error(versebert("search", "new heart", "--translation", "KLINGON"), "unknown translation 'KLINGON'")


def test_missing_model_directory_exits_2(tmp_path):
    assert_user_error(versebert("search", "new heart", "--model", str(tmp_path / "nope")), "model directory not found")


def test_missing_index_exits_2(tmp_path):
    assert_user_error(versebert("search", "new heart", "--index", str(tmp_path)), "not a VerseBERT search index")


def test_evaluate_with_a_missing_judgments_file_exits_2(tmp_path):
    result = versebert("evaluate", "retrieval", "--judgments", str(tmp_path / "votes.tsv"), "--no-peer")
    assert_user_error(result, "topic-votes file not found")


def test_table_shows_reference_score_why_and_text():
    searcher = VerseSearcher(SearchIndex.build([web_corpus(), kjv_corpus()], show_progress=False))
    table = format_hits(searcher.search("charity suffereth long", k=2), searcher)
    lines = table.splitlines()
    assert lines[0].split() == ["#", "reference", "score", "matched", "by"]
    assert lines[2].split()[:2] == ["1", "1"] and "Corinthians 13:4" in lines[2] and "bm25 KJV #1" in lines[2]
    assert lines[3].strip().startswith("Love is patient")
    assert format_hits([], searcher) == "No verses matched."


@pytest.mark.slow
def test_bm25_search_over_the_web_finds_ezekiel():
    result = versebert("search", "give you a new heart", "-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["retrievers"] == ["bm25", "prior", "memory_bm25"] and output["display"] == "WEB"
    assert output["translations"] == ["KJV", "WEB", "ASV", "YLT", "DAR", "BBE", "NHEB", "WBS"]
    assert output["hits"][0]["reference"] == "Ezekiel 36:26"


@pytest.mark.slow
def test_reference_search_prints_the_passage():
    result = versebert("search", "1 Cor 13:4-7", "-k", "4")
    assert result.returncode == 0, result.stderr
    for verse in range(4, 8):
        assert f"1 Corinthians 13:{verse}" in result.stdout


@pytest.mark.slow
def test_index_build_then_search_with_it(tmp_path):
    # Lexical only: with the knowledge, "God loves" topics outrank this quotation (see the README).
    built = versebert("index", "build", "--translation", "WEB,KJV", "--no-knowledge", "--output",
                      str(tmp_path / "index"))
    assert built.returncode == 0, built.stderr
    result = versebert("search", "God loveth a cheerful giver", "--index", str(tmp_path / "index"), "--json")
    assert result.returncode == 0, result.stderr
    hit = json.loads(result.stdout)["hits"][0]
    assert (hit["reference"], hit["translation"]) == ("2 Corinthians 9:7", "WEB")


@pytest.mark.slow
def test_the_readme_demo_queries(tmp_path):
    queries = ["give you a new heart", "do not worry about tomorrow", "love your enemies", "the lord is my shepherd"]
    result = versebert("search", *queries, "-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    top3 = {answer["query"]: [hit["reference"] for hit in answer["hits"]] for answer in json.loads(result.stdout)}
    assert "Matthew 6:34" in top3["do not worry about tomorrow"]
    assert "Matthew 5:44" in top3["love your enemies"]
    assert top3["the lord is my shepherd"][0] == "Psalms 23:1"


def test_index_build_from_a_users_topic_votes_then_search_it(monkeypatch, tmp_path, capsys):
    from tests.test_retrieval_support import toy_knowledge, write_toy_topic_votes
    from versebert import cli
    from versebert.retrieval import VerseCorpus

    corpora = {"WEB": web_corpus(), "KJV": kjv_corpus()}
    monkeypatch.setattr(VerseCorpus, "from_translation", classmethod(lambda cls, code: corpora[code]))
    votes = write_toy_topic_votes(tmp_path / "my-download.tsv")
    assert cli.main(["index", "build", "-t", "WEB,KJV", "--judgments", str(votes), "-o", str(tmp_path / "i")]) == 0
    topics = len(toy_knowledge(tmp_path))  # every toy topic with enough votes
    assert f"knowledge of {topics} topics" in capsys.readouterr().out
    assert cli.main(["search", "worried about money", "--index", str(tmp_path / "i"), "-k", "1", "--json"]) == 0
    (match,) = json.loads(capsys.readouterr().out)["hits"][0]["matches"]
    assert match["detail"] == "topic memory: 'worry' (1st nearest), 90 votes"


def test_contradictory_index_options_exit_2(tmp_path):
    result = versebert("index", "build", "--judgments", "x.tsv", "--no-knowledge", "-o", str(tmp_path))
    assert_user_error(result, "contradict")


def test_a_bad_later_query_is_refused_before_anything_loads(tmp_path):
    # the index path does not exist: a refusal naming the query shows the queries were checked first
    result = versebert("search", "new heart", "", "--index", str(tmp_path / "nope"))
    assert_user_error(result, "empty query")


def test_several_queries_share_one_searcher_and_answer_in_order(monkeypatch, capsys):
    from versebert import cli
    from versebert.commands import search

    loads = []

    def small_searcher(args):
        loads.append(args)
        return VerseSearcher(SearchIndex.build([web_corpus(), kjv_corpus()], show_progress=False))

    monkeypatch.setattr(search, "build_searcher", small_searcher)
    assert cli.main(["search", "charity suffereth long", "John 3:16", "-k", "1", "--json"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert len(loads) == 1
    assert [answer["query"] for answer in answers] == ["charity suffereth long", "John 3:16"]
    assert answers[0]["hits"][0]["reference"] == "1 Corinthians 13:4"
    assert answers[1]["hits"][0]["reference"] == "John 3:16"

    assert cli.main(["search", "charity suffereth long", "John 3:16", "-k", "1"]) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == ["query: charity suffereth long", "query: John 3:16"]
    assert "1 Corinthians 13:4" in blocks[0] and "John 3:16" in blocks[1]


@pytest.mark.parametrize("k", ["0", "-3", "1001"])
def test_a_number_of_results_out_of_range_is_refused_before_loading(k, tmp_path):
    result = versebert("search", "new heart", "-k", k, "--index", str(tmp_path / "nope"))
    assert_user_error(result, "from 1 to 1,000")


def test_notices_go_to_stderr_and_into_the_json_answer(monkeypatch, capsys):
    from versebert import cli
    from versebert.commands import search

    monkeypatch.setattr(search, "build_searcher",
                        lambda args: VerseSearcher(SearchIndex.build([web_corpus()], show_progress=False)))
    assert cli.main(["search", "John 99:99", "-k", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == "note: John has 21 chapters; searching the words instead"
    assert cli.main(["search", "John 99:99", "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["notices"] == ["John has 21 chapters; searching the words instead"]


def test_a_reader_that_leaves_early_is_not_an_error(monkeypatch):
    import os

    from versebert import cli
    from versebert.commands import search

    monkeypatch.setattr(search, "build_searcher",
                        lambda args: VerseSearcher(SearchIndex.build([web_corpus()], show_progress=False)))
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head` that has already left
    saved = os.dup(1)
    try:
        monkeypatch.setattr(sys, "stdout", os.fdopen(write_end, "w", buffering=1))
        assert cli.main(["search", "love", "-k", "3"]) == 0
    finally:
        os.dup2(saved, 1)
        os.close(saved)
