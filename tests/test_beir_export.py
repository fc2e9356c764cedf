"""The benchmark as data: a BEIR export that `datasets` loads offline, crediting its source and rule."""

from __future__ import annotations

import pytest

from tests.test_openbible import write_votes
from versebert.data.beir_export import export_benchmark
from versebert.data.openbible import load_judgments, topic_query_id

CORPUS = {
    1001001: "In the beginning God created the heavens and the earth.",
    26036026: "I will also give you a new heart, and I will put a new spirit within you.",
    26036027: "I will put my Spirit within you.",
}
ROWS = [
    "new heart\t26036026\t26036027\t40",  # two verses, grade 3
    "new heart\t26036026\t\t90",  # the same verse with more votes: grade 4 wins
    "creation\t01001001\t\t10",
    "long passage\t01001001\t01002003\t500",  # more than 3 verses: not counted
]


@pytest.fixture
def export(tmp_path):
    judgments = load_judgments(write_votes(tmp_path, ROWS, name="topic-votes.dev.tsv"))
    return export_benchmark(judgments, CORPUS, tmp_path / "bench", split="dev", corpus_name="a toy Bible")


def load(directory, config, tmp_path):
    import datasets

    loaded = datasets.load_dataset(str(directory), config, cache_dir=str(tmp_path / "datasets-cache"))
    return {split: [dict(row) for row in rows] for split, rows in loaded.items()}


def test_each_config_loads_with_datasets_and_keeps_verse_ids_as_strings(export, tmp_path):
    corpus = load(export, "corpus", tmp_path)
    assert list(corpus) == ["corpus"]
    assert corpus["corpus"][0] == {"_id": "01001001", "title": "", "text": CORPUS[1001001]}
    assert len(corpus["corpus"]) == 3

    queries = load(export, "queries", tmp_path)
    assert queries == {"queries": [{"_id": topic_query_id("new heart"), "text": "new heart"},
                                   {"_id": topic_query_id("creation"), "text": "creation"}]}

    qrels = load(export, "qrels", tmp_path)
    heart, creation = topic_query_id("new heart"), topic_query_id("creation")
    assert qrels == {"dev": [
        {"query-id": heart, "corpus-id": "26036026", "score": 4},
        {"query-id": heart, "corpus-id": "26036027", "score": 3},
        {"query-id": creation, "corpus-id": "01001001", "score": 1},
    ]}
    tsv = (export / "qrels" / "dev.tsv").read_text().splitlines()
    assert len(tsv) == 1 + len(qrels["dev"])  # the BEIR file holds the same judgments


def test_the_card_credits_openbible_and_states_the_relevance_rule(export):
    card = (export / "README.md").read_text()
    assert "www.openbible.info/topics" in card and "CC-BY" in card
    assert "at most 3 verses within one chapter" in card and "min(5, 1 + floor(log2(votes / 10)))" in card
    assert "1 rows were too long to count" in card
    assert "2 topics (queries), 3 graded judgments" in card


def test_export_beir_command_names_the_split_from_the_file(tmp_path, monkeypatch, capsys):
    from versebert.cli import main
    from versebert.data import beir_export

    written = {}

    def fake_export(judgments, corpus, output, *, split):
        written.update(corpus=corpus, split=split, topics=len(judgments))
        return tmp_path / "out"

    monkeypatch.setattr(beir_export, "export_benchmark", fake_export)
    path = write_votes(tmp_path, ROWS, name="topic-votes.train.tsv")
    assert main(["data", "export-beir", "--judgments", str(path), "--output", str(tmp_path / "out")]) == 0
    assert written == {"corpus": "WEB", "split": "train", "topics": 2}
    assert "wrote 2 topics and 3 judgments (train)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["data", "export-beir", "--output", str(tmp_path / "out")])  # --judgments is required
