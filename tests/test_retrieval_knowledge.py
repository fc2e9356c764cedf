"""Joined verse documents, the verse prior, the topic memory and their fusion, on tiny data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.test_retrieval_support import (
    KJV_VERSES,
    WEB_VERSES,
    kjv_corpus,
    toy_knowledge,
    toy_knowledge_index,
    web_corpus,
    write_toy_topic_votes,
)
from versebert.errors import UserError
from versebert.retrieval import BM25Config, BM25Index, SearchConfig, SearchIndex, VerseCorpus, VerseSearcher
from versebert.retrieval.fusion_weights import FusionWeights
from versebert.retrieval.topic_knowledge import TopicKnowledge, packaged_knowledge_path
from versebert.retrieval.topic_memory import ordinal
from versebert.retrieval.verse_documents import JOINED, VerseDocuments, verse_terms, with_neighbours
from versebert.retrieval.verse_prior import prior_ranking


def test_bm25_scores_equal_bm25s_own_scoring():
    import bm25s

    from versebert.retrieval import Analyzer

    texts = [text for _, text in KJV_VERSES]
    analyzer = Analyzer(BM25Config())
    peer = bm25s.BM25(method="lucene")
    peer.index([analyzer(text) for text in texts], show_progress=False)
    ours = BM25Index.build([v for v, _ in KJV_VERSES], texts)
    for query in ["God loveth a cheerful giver", "new heart new spirit", "charity"]:
        expected = peer.get_scores(analyzer(query))
        np.testing.assert_allclose(ours.scores(query), expected, rtol=1e-6)


def test_joined_index_has_one_document_per_verse_and_finds_either_wording():
    index = SearchIndex.build([web_corpus(), kjv_corpus()], documents=VerseDocuments(), show_progress=False)
    assert list(index.bm25) == [JOINED]
    assert len(index.bm25[JOINED]) == len({v for v, _ in WEB_VERSES + KJV_VERSES})
    searcher = VerseSearcher(index)
    for query in ["charity suffereth long", "love is patient"]:
        hit = searcher.search(query, k=1)[0]
        assert hit.verse_id == 46013004
        assert (hit.translation, hit.text) == ("WEB", dict(WEB_VERSES)[46013004])  # WEB shown, KJV matched
        assert [(m.retriever, m.translation) for m in hit.matches] == [("bm25", JOINED)]


def test_neighbours_join_only_verses_of_the_same_chapter():
    from versebert.retrieval import Analyzer

    verses = [(46013004, "love"), (46013005, "kind"), (46014001, "prophecy")]
    terms = verse_terms([VerseCorpus.from_texts("WEB", verses)], Analyzer(BM25Config(stemmer=None)))
    assert with_neighbours(terms, 1) == [["love", "kind"], ["kind", "love"], ["prophecy"]]
    assert with_neighbours(terms, 0) == [["love"], ["kind"], ["prophecy"]]


def test_documents_config_is_validated_by_field():
    with pytest.raises(ValueError, match="VerseDocuments.neighbours"):
        VerseDocuments(neighbours=-1)
    with pytest.raises(ValueError, match="joined"):
        VerseDocuments(joined=False, neighbours=1)


def test_knowledge_from_a_topic_votes_file(tmp_path):
    knowledge = toy_knowledge(tmp_path)
    topics = dict(zip(knowledge.topics, zip(knowledge.verses, knowledge.votes, strict=True), strict=True))
    assert "few votes" not in topics  # under 10 votes: judges nothing
    assert topics["worry"] == ((47009007, 19023001), (90, 12))  # most-voted first
    assert topics["patience"] == ((46013004, 46013005), (60, 60))  # a short passage, verse by verse
    assert topics["creation"] == ((1001001,), (70,))  # a long passage credits its first verse
    assert knowledge.prior[47009007] == 2 and knowledge.prior[49002008] == 1


def test_knowledge_round_trips_and_a_damaged_file_is_a_user_error(tmp_path):
    knowledge = toy_knowledge(tmp_path)
    path = knowledge.save(tmp_path / "k.json.gz")
    assert TopicKnowledge.load(path) == knowledge
    assert knowledge.save(tmp_path / "again.json.gz").read_bytes() == path.read_bytes()  # reproducible bytes
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(UserError, match="not a readable topic knowledge file"):
        TopicKnowledge.load(path)


def test_prior_reorders_only_the_candidates_by_topic_count():
    counts = {1: 5, 2: 1, 3: 5, 99: 100}
    assert prior_ranking([2, 1, 4, 3, 1], counts) == [(1, 5.0), (3, 5.0), (2, 1.0)]


def test_memory_hits_say_which_topic_and_how_many_votes(tmp_path):
    searcher = VerseSearcher(toy_knowledge_index(tmp_path), retrievers=["memory_bm25"])
    hit = searcher.search("worried about money", k=1)[0]
    assert hit.verse_id == 47009007
    (match,) = hit.matches
    assert match.retriever == "memory_bm25"
    assert match.detail == "topic memory: 'worry' (1st nearest), 90 votes"
    assert "topic memory: 'worry' (1st nearest), 90 votes" in hit.why
    assert json.loads(json.dumps(hit.to_dict()))["matches"][0]["detail"] == match.detail


def test_prior_hits_say_how_many_topics_judge_the_verse(tmp_path):
    searcher = VerseSearcher(toy_knowledge_index(tmp_path), retrievers=["bm25", "prior"])
    hit = searcher.search("cheerful giver", k=1)[0]
    assert hit.verse_id == 47009007
    assert [m.retriever for m in hit.matches] == ["bm25", "prior"]
    assert hit.matches[1].detail == "judged by 2 training topics"


def test_every_knowledge_signal_is_on_by_default_and_fused_by_rank(tmp_path):
    index = toy_knowledge_index(tmp_path)
    searcher = VerseSearcher(index)
    assert searcher.retrievers == ("bm25", "prior", "memory_bm25")
    hit = searcher.search("worry", k=1)[0]
    ranks = {m.retriever: m.rank for m in hit.matches}
    expected = sum(1 / (60 + rank) for rank in ranks.values())  # equal weights, RRF k = 60
    assert hit.score == pytest.approx(expected)


def test_ordinals():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"]


def test_knowledge_signals_need_knowledge():
    with pytest.raises(UserError, match="needs topic knowledge"):
        VerseSearcher(SearchIndex.build([web_corpus()], show_progress=False), retrievers=["memory_bm25"])


def test_index_weights_are_used_and_round_trip_with_the_index(tmp_path):
    weights = FusionWeights(prior_weight=0.0, memory_bm25_weight=2.0, chosen_on="toy")
    index = toy_knowledge_index(tmp_path, fusion=weights)
    index.save(tmp_path / "index")
    loaded = SearchIndex.load(tmp_path / "index")
    assert loaded.fusion == weights
    searcher = VerseSearcher(loaded)
    assert (searcher.weights["prior"], searcher.weights["memory_bm25"]) == (0.0, 2.0)
    assert VerseSearcher(loaded, config=SearchConfig(prior_weight=3)).weights["prior"] == 3.0
    original = VerseSearcher(index).search("worry about giving", k=5)
    assert [h.to_dict() for h in searcher.search("worry about giving", k=5)] == [h.to_dict() for h in original]


def test_a_saved_index_shows_its_stored_texts_and_refuses_a_damaged_file(tmp_path):
    toy_knowledge_index(tmp_path).save(tmp_path / "index")
    loaded = SearchIndex.load(tmp_path / "index")
    assert loaded.translations == ["WEB", "KJV"] and loaded.knowledge is not None
    assert VerseSearcher(loaded).search("Jesus wept", k=1)[0].text == "Jesus wept."
    corpus_file = tmp_path / "index" / "corpus" / "WEB.json"
    text = corpus_file.read_text()
    corpus_file.write_text(text.replace("wept", "kept"))  # same size: found when the texts are read
    with pytest.raises(UserError, match="damaged: cannot read corpus/WEB.json"):
        VerseSearcher(SearchIndex.load(tmp_path / "index")).search("Jesus wept")
    corpus_file.write_text(text.replace("wept", "slept"))
    with pytest.raises(UserError, match="damaged: corpus/WEB.json"):
        SearchIndex.load(tmp_path / "index")


@pytest.mark.parametrize("metadata, message", [
    ("[]", "holds a JSON list, not an index description"),
    ("no-translations", "has no translations"),
    ('{"format": "versebert-search-in', "is not valid JSON"),
])
def test_a_broken_index_description_is_refused_with_the_rebuild_command(tmp_path, metadata, message):
    import json

    toy_knowledge_index(tmp_path).save(tmp_path / "index")
    path = tmp_path / "index" / "index.json"
    if metadata == "no-translations":
        described = json.loads(path.read_text())
        del described["translations"]
        metadata = json.dumps(described)
    path.write_text(metadata)
    with pytest.raises(UserError, match=message):
        SearchIndex.load(tmp_path / "index")
    if "valid JSON" not in message:
        with pytest.raises(UserError, match="versebert index build"):
            SearchIndex.load(tmp_path / "index")


def test_fusion_weight_search_never_does_worse_than_equal_weights(tmp_path):
    from tests.test_eval_retrieval import toy_judgments
    from versebert.evaluation.fusion_tuning import choose_fusion_weights

    judged = toy_judgments({"cheerful giver": {47009007: 2}, "new spirit": {26036026: 3}, "wept": {43011035: 1}})
    chosen = choose_fusion_weights(toy_knowledge_index(tmp_path), judged, depth=10, chosen_on="toy")
    assert chosen.tuned_ndcg >= chosen.equal_ndcg
    assert chosen.bm25_weight == 1.0  # the anchor
    assert chosen.sweep == {}  # no dense signal to sweep


def test_packaged_knowledge_is_train_topics_with_weights_and_a_licence_note():
    path = packaged_knowledge_path()
    knowledge = TopicKnowledge.load(path)
    assert len(knowledge) > 1000 and "train" in knowledge.source
    assert FusionWeights.load(path.parent) is not None
    assert "CC-BY" in (path.parent / "README.md").read_text() and "www.openbible.info/topics" in \
        (path.parent / "README.md").read_text()


def test_toy_votes_file_is_the_original_format(tmp_path):
    from versebert.data.openbible import load_judgments

    judged = load_judgments(write_toy_topic_votes(tmp_path / "votes.tsv"))
    assert "worry" in judged.topics
