"""BM25: analysis (archaic forms, one-character tokens, stop words), zero-score filtering, save/load."""

from __future__ import annotations

import json

import pytest

from tests.test_retrieval_support import KJV_VERSES, WEB_VERSES
from versebert.errors import UserError
from versebert.retrieval import Analyzer, BM25Config, BM25Index, normalize_archaic


def kjv_index(config=None):
    return BM25Index.build([v for v, _ in KJV_VERSES], [t for _, t in KJV_VERSES], config)


@pytest.mark.parametrize(
    "archaic, modern",
    [
        ("loveth", "loves"), ("believeth", "believes"), ("knoweth", "knows"), ("giveth", "gives"),
        ("sitteth", "sits"), ("goeth", "going"), ("seeth", "sees"), ("dieth", "dies"), ("crieth", "cries"),
        ("abideth", "abides"), ("judgeth", "judges"), ("keepeth", "keeps"), ("forgiveth", "forgives"),
        ("saith", "says"), ("hath", "has"), ("doth", "does"), ("sheweth", "shows"), ("brethren", "brothers"),
    ],
)
def test_archaic_verb_forms_analyze_like_the_modern_ones(archaic, modern):
    analyze = Analyzer(BM25Config())
    assert analyze(f"he {archaic}") == analyze(f"he {modern}") != []


@pytest.mark.parametrize("archaic, modern", [("thou knowest", "you know"), ("lovest thou", "love you"),
                                             ("thou doest", "you do"), ("thy", "your"), ("thee", "you")])
def test_second_person_forms_next_to_thou_are_modernized(archaic, modern):
    analyze = Analyzer(BM25Config(stopwords="none"))
    assert analyze(archaic) == analyze(modern)


@pytest.mark.parametrize("word", ["priest", "greatest", "forest", "teeth", "seth", "twentieth", "beth"])
def test_nouns_and_superlatives_are_left_alone(word):
    assert normalize_archaic([word]) == [word]
    assert normalize_archaic(["the", word, "of"]) == ["the", word, "of"]


def test_est_words_change_only_next_to_thou():
    assert normalize_archaic(["thou", "knowest"]) == ["you", "knowing"]
    assert normalize_archaic(["he", "knowest"]) == ["he", "knowest"]


def test_priest_and_priests_still_share_a_stem():
    analyze = Analyzer(BM25Config())
    assert analyze("the priest") == analyze("priests")


def test_archaic_normalization_can_be_switched_off():
    assert Analyzer(BM25Config(normalize_archaic=False))("loveth") != Analyzer(BM25Config())("loveth")


def test_one_character_tokens_are_kept():
    assert Analyzer(BM25Config(stopwords="none", stemmer=None))("1 John 4 8") == ["1", "john", "4", "8"]


def test_modern_query_finds_kjv_wording():
    hits = kjv_index().search("God loves a cheerful giver", 3)
    assert hits[0][0] == 47009007
    assert kjv_index().search("he who does not love does not know God", 1)[0][0] == 62004008


def test_query_of_unknown_words_returns_nothing_not_k_arbitrary_verses():
    assert kjv_index().search("zebra quantum", 5) == []
    assert kjv_index().search("the and of", 5) == []  # stop words only


def test_hits_never_include_zero_scores():
    hits = kjv_index().search("shepherd", 10)
    assert [verse_id for verse_id, _ in hits] == [19023001]
    assert all(score > 0 for _, score in hits)


def test_k_larger_than_the_corpus_is_fine():
    hits = kjv_index().search("God", 1000)
    assert 0 < len(hits) <= len(KJV_VERSES)
    assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)


def test_batch_search_equals_single_searches():
    index = kjv_index()
    queries = ["new heart", "love", "nothing matches zebra"]
    assert index.search_batch(queries, 4) == [index.search(query, 4) for query in queries]


def test_save_load_round_trip_keeps_results_and_settings(tmp_path):
    config = BM25Config(k1=1.2, b=0.6, stopwords="en_plus")
    index = kjv_index(config)
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert loaded.config == config
    for query in ["God loveth", "new heart spirit", "wept"]:
        assert loaded.search(query, 5) == index.search(query, 5)
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pickle"))


def test_loading_a_directory_without_an_index_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no BM25 index"):
        BM25Index.load(tmp_path)


def test_config_fields_are_validated_by_name():
    with pytest.raises(ValueError, match="BM25Config.b"):
        BM25Config(b=2)
    with pytest.raises(ValueError, match="BM25Config.stopwords"):
        BM25Config(stopwords="klingon")


def test_saved_config_is_plain_json(tmp_path):
    kjv_index().save(tmp_path)
    assert json.loads((tmp_path / "versebert_bm25.json").read_text())["normalize_archaic"] is True


def test_web_and_kjv_indexes_agree_on_the_verse_for_a_modern_query():
    web = BM25Index.build([v for v, _ in WEB_VERSES], [t for _, t in WEB_VERSES])
    query = "God loves a cheerful giver"
    assert web.search(query, 1)[0][0] == kjv_index().search(query, 1)[0][0] == 47009007
