"""Hybrid search behaviour: references first, multi-translation fusion, explanations, bad input,
and index save/load with mismatch detection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.test_retrieval_support import WEB_VERSES, build_tiny_sentence_transformer, kjv_corpus, web_corpus
from versebert.errors import UserError
from versebert.retrieval import (
    DenseEncoder,
    SearchConfig,
    SearchIndex,
    VerseCorpus,
    VerseSearcher,
    reference_verse_ids,
    words_outside_references,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("st0"), seed=0)


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory):
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("st1"), seed=1)


@pytest.fixture(scope="module")
def encoder(model_dir):
    return DenseEncoder(model_dir)


@pytest.fixture(scope="module")
def bm25_searcher():
    return VerseSearcher(SearchIndex.build([web_corpus()], show_progress=False))


@pytest.mark.parametrize("query, expected", [
    ("John 3:16", [43003016]),
    ("1 Cor 13:4-7", [46013004, 46013005, 46013006, 46013007]),
    ("Ps 23", [19023001, 19023002, 19023003, 19023004, 19023005, 19023006]),
    ("John 3:16; Rom 8:28", [43003016, 45008028]),
    ("job security", []),  # a bare book name is a word, not a reference
    ("mark of the beast", []),
    ("seeking wisdom", []),  # "Wisdom" is a deuterocanonical book
    ("give you a new heart", []),
])
def test_reference_queries_name_verses(query, expected):
    assert reference_verse_ids(query) == expected


def test_reference_query_puts_the_verse_first(bm25_searcher):
    hits = bm25_searcher.search("John 3:16", k=3)
    assert hits[0].verse_id == 43003016
    assert hits[0].reference == "John 3:16"
    assert hits[0].score is None
    assert hits[0].matches[0].retriever == "reference"


def test_range_reference_returns_the_verses_the_corpus_has_in_order_and_nothing_else(bm25_searcher):
    hits = bm25_searcher.search("1 Cor 13:4-7", k=5)
    assert [hit.verse_id for hit in hits] == [46013004, 46013005]  # no verse found by the word "cor"
    assert all(hit.matches[0].retriever == "reference" for hit in hits)


def test_words_beside_a_reference_are_still_searched(bm25_searcher):
    hits = bm25_searcher.search("John 3:16 new heart", k=3)
    assert hits[0].verse_id == 43003016
    assert 26036026 in [hit.verse_id for hit in hits[1:]]
    assert hits[1].matches[0].retriever == "bm25"


@pytest.mark.parametrize("query, words", [
    ("1 Cor 13:4-7", ""),
    ("John 3:16; Rom 8:28", ""),
    ("Gen 1:1-2:3", ""),
    ("Song of Solomon 2:4 banner", "banner"),
    ("love in 1 John 4:8", "love in"),
    ("John 99:99", "John 99:99"),  # names no verse: its words are the search
    ("top 10 verses", "top 10 verses"),
    ("give you a new heart", "give you a new heart"),
])
def test_the_words_outside_references_are_what_is_searched(query, words):
    assert words_outside_references(query) == words


def test_references_can_be_switched_off():
    searcher = VerseSearcher(SearchIndex.build([web_corpus()], show_progress=False),
                             config=SearchConfig(resolve_references=False))
    assert all(hit.verse_id != 43003016 or hit.score is not None for hit in searcher.search("John 3:16", k=10))


def test_hits_explain_which_retriever_matched(bm25_searcher):
    hit = bm25_searcher.search("give you a new heart", k=1)[0]
    assert hit.verse_id == 26036026
    assert hit.text == dict(WEB_VERSES)[26036026]
    (match,) = hit.matches
    assert (match.retriever, match.translation, match.rank) == ("bm25", "WEB", 1)
    assert match.score > 0
    assert hit.score == pytest.approx(1 / 61)
    assert "bm25 WEB #1" in hit.why
    assert json.loads(json.dumps(hit.to_dict()))["matches"][0]["retriever"] == "bm25"


def test_kjv_wording_finds_the_verse_while_web_text_is_shown():
    searcher = VerseSearcher(SearchIndex.build([web_corpus(), kjv_corpus()], show_progress=False))
    hit = searcher.search("charity suffereth long", k=1)[0]
    assert hit.verse_id == 46013004
    assert (hit.translation, hit.text) == ("WEB", dict(WEB_VERSES)[46013004])
    assert [(m.retriever, m.translation, m.rank) for m in hit.matches] == [("bm25", "KJV", 1)]


def test_display_translation_can_be_chosen():
    searcher = VerseSearcher(SearchIndex.build([web_corpus(), kjv_corpus()], show_progress=False), display="kjv")
    assert searcher.search("Jesus wept", k=1)[0].text == "Jesus wept."
    assert searcher.search("new heart", k=1)[0].text.startswith("A new heart also")


def test_verse_missing_from_the_display_translation_is_shown_from_another():
    kjv_only = VerseCorpus.from_texts("KJV", [(1001001, "In the beginning God created the heaven and the earth."),
                                              (40017021, "Howbeit this kind goeth not out but by prayer and fasting.")])
    searcher = VerseSearcher(SearchIndex.build([web_corpus(), kjv_only], show_progress=False))
    hit = searcher.search("prayer and fasting", k=1)[0]
    assert (hit.verse_id, hit.translation) == (40017021, "KJV")


def test_fusion_splits_a_retrievers_weight_over_translations():
    both = VerseSearcher(SearchIndex.build([web_corpus(), kjv_corpus()], show_progress=False))
    hit = both.search("Jesus wept", k=1)[0]  # rank 1 in both translations: 2 x (1/2) / 61
    assert hit.score == pytest.approx(1 / 61)


@pytest.mark.parametrize("query, message", [
    ("", "empty query"),
    ("   \t\n", "empty query"),
    ("x" * 10_000, "10,000 characters long; the limit is 1,000"),
])
def test_bad_queries_are_user_errors(bm25_searcher, query, message):
    with pytest.raises(UserError, match=message):
        bm25_searcher.search(query)


def test_bad_k_is_a_user_error(bm25_searcher):
    with pytest.raises(UserError, match="-k must be a positive"):
        bm25_searcher.search("love", k=0)


def test_dense_needs_a_model():
    with pytest.raises(UserError, match="needs a model"):
        VerseSearcher(SearchIndex.build([web_corpus()], show_progress=False), retrievers=["dense"])


def test_query_of_unknown_words_gives_no_bm25_hits(bm25_searcher):
    assert bm25_searcher.search("zebra quantum", k=5) == []


def test_missing_model_directory_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="model directory not found"):
        DenseEncoder(tmp_path / "nope")
    with pytest.raises(UserError, match="does not hold a saved model"):
        DenseEncoder(tmp_path)


def test_hybrid_hits_carry_both_retrievers_and_dense_only_ranks_everything(encoder):
    index = SearchIndex.build([web_corpus()], encoder, show_progress=False)
    hybrid = VerseSearcher(index).search("give you a new heart", k=3)
    assert {m.retriever for m in hybrid[0].matches} == {"bm25", "dense"}
    dense = VerseSearcher(index, retrievers=["dense"]).search("zebra", k=len(WEB_VERSES))
    assert len(dense) == len(WEB_VERSES)  # cosine ranks every verse, even for unknown words
    scores = [hit.matches[0].score for hit in dense]
    assert scores == sorted(scores, reverse=True)


def test_dense_search_is_exact_cosine_top_k(encoder):
    corpus = web_corpus()
    index = SearchIndex.build([corpus], encoder, show_progress=False)
    query = encoder.encode(["a cheerful giver"])[0]
    expected = np.argsort(-(encoder.encode(corpus.texts) @ query), kind="stable")[:4]
    hits = VerseSearcher(index, retrievers=["dense"]).search("a cheerful giver", k=4)
    assert [hit.verse_id for hit in hits] == [corpus.verse_ids[i] for i in expected]


def test_a_signal_searched_alone_ranks_even_when_the_hybrid_gave_it_weight_zero(model_dir, tmp_path):
    import shutil

    from versebert.retrieval.fusion_weights import FusionWeights

    tuned_away = tmp_path / "model"
    shutil.copytree(model_dir, tuned_away)
    FusionWeights(dense_weight=0.0, chosen_on="dev").save(tuned_away)
    index = SearchIndex.build([web_corpus()], DenseEncoder(tuned_away), show_progress=False)
    assert VerseSearcher(index).weights["dense"] == 0.0
    alone = VerseSearcher(index, retrievers=["dense"]).search("a cheerful giver", k=4)
    assert len(alone) == 4 and all(hit.matches[0].retriever == "dense" for hit in alone)


def test_batch_search_equals_single_searches(encoder):
    searcher = VerseSearcher(SearchIndex.build([web_corpus()], encoder, show_progress=False))
    queries = ["new heart", "Ps 23", "love is patient"]

    def ranks(hits):  # padding in a batch moves dense scores in the last float digits, not the ranks
        return [(hit.verse_id, [(m.retriever, m.rank) for m in hit.matches]) for hit in hits]

    batched = searcher.search_batch(queries, k=4)
    assert [ranks(hits) for hits in batched] == [ranks(searcher.search(query, k=4)) for query in queries]


def test_index_round_trip_gives_the_same_hits(tmp_path, encoder):
    index = SearchIndex.build([web_corpus(), kjv_corpus()], encoder, show_progress=False)
    index.save(tmp_path / "index")
    loaded = SearchIndex.load(tmp_path / "index", corpora=[web_corpus(), kjv_corpus()], encoder=encoder)
    for query in ["God loveth a cheerful giver", "John 3:16", "new spirit"]:
        assert VerseSearcher(loaded).search(query, 5) == VerseSearcher(index).search(query, 5)
    metadata = json.loads((tmp_path / "index" / "index.json").read_text())
    assert metadata["translations"] == ["WEB", "KJV"]
    assert metadata["model"]["fingerprint"] == encoder.fingerprint
    assert metadata["corpora"]["WEB"]["fingerprint"] == web_corpus().fingerprint
    suffixes = {path.suffix for path in (tmp_path / "index").rglob("*") if path.is_file()}
    assert suffixes <= {".json", ".npy", ".safetensors"}


def test_index_loads_its_recorded_model_when_none_is_given(tmp_path, encoder):
    SearchIndex.build([web_corpus()], encoder, show_progress=False).save(tmp_path / "index")
    loaded = SearchIndex.load(tmp_path / "index", corpora=[web_corpus()])
    assert loaded.encoder.fingerprint == encoder.fingerprint


def test_loading_with_another_model_is_refused(tmp_path, encoder, other_model_dir):
    SearchIndex.build([web_corpus()], encoder, show_progress=False).save(tmp_path / "index")
    with pytest.raises(UserError, match="different model"):
        SearchIndex.load(tmp_path / "index", corpora=[web_corpus()], encoder=DenseEncoder(other_model_dir))


def test_loading_with_a_changed_text_is_refused(tmp_path):
    SearchIndex.build([web_corpus()], show_progress=False).save(tmp_path / "index")
    changed = VerseCorpus.from_texts("WEB", [(v, t.replace("heart", "mind")) for v, t in WEB_VERSES])
    with pytest.raises(UserError, match="different WEB text"):
        SearchIndex.load(tmp_path / "index", corpora=[changed])


def test_loading_with_other_translations_is_refused(tmp_path):
    SearchIndex.build([web_corpus()], show_progress=False).save(tmp_path / "index")
    with pytest.raises(UserError, match="covers WEB"):
        SearchIndex.load(tmp_path / "index", corpora=[kjv_corpus()])


def test_bm25_only_index_refuses_a_model(tmp_path, encoder):
    SearchIndex.build([web_corpus()], show_progress=False).save(tmp_path / "index")
    with pytest.raises(UserError, match="has no dense embeddings"):
        SearchIndex.load(tmp_path / "index", corpora=[web_corpus()], encoder=encoder)


def test_index_whose_model_was_removed_asks_for_one(tmp_path, encoder):
    SearchIndex.build([web_corpus()], encoder, show_progress=False).save(tmp_path / "index")
    metadata_path = tmp_path / "index" / "index.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["model"]["path"] = str(tmp_path / "gone")
    metadata["model"]["relative_path"] = "../gone"
    metadata_path.write_text(json.dumps(metadata))
    with pytest.raises(UserError, match="no longer exists"):
        SearchIndex.load(tmp_path / "index", corpora=[web_corpus()])


def test_a_run_directory_moved_whole_still_finds_its_model(tmp_path):
    import shutil

    run = tmp_path / "run"
    model = build_tiny_sentence_transformer(run, seed=0)  # run/model
    SearchIndex.build([web_corpus()], DenseEncoder(model), show_progress=False).save(run / "index")
    assert json.loads((run / "index" / "index.json").read_text())["model"]["relative_path"] == "../model"
    moved = shutil.move(run, tmp_path / "elsewhere")
    index = SearchIndex.load(Path(moved) / "index", corpora=[web_corpus()])
    assert Path(index.encoder.path).resolve() == (Path(moved) / "model").resolve()
    hits = VerseSearcher(index, retrievers=["dense"]).search("a new heart", 1)
    assert len(hits) == 1


def test_directory_without_an_index_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="is not a VerseBERT search index"):
        SearchIndex.load(tmp_path, corpora=[web_corpus()])


def test_query_encoding_runs_on_one_thread_and_restores_the_setting(encoder, monkeypatch):
    import torch

    seen = []
    original = encoder._encode
    monkeypatch.setattr(encoder, "_encode", lambda texts, **options: seen.append(torch.get_num_threads())
                        or original(texts, **options))
    torch.set_num_threads(2)
    try:
        embeddings = encoder.encode_queries(["a new heart"])
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)  # the suite's setting (conftest)
    np.testing.assert_allclose(embeddings, encoder.encode(["a new heart"]), atol=1e-5)


@pytest.mark.slow
def test_real_web_hits_show_clean_text_without_the_next_psalms_heading():
    """The WEB package glues the next Psalm's heading and poetry spacing onto a psalm's last verse."""
    searcher = VerseSearcher(SearchIndex.build([VerseCorpus.from_translation("WEB")], show_progress=False))
    hit = searcher.search("Ps 30:12", k=1)[0]
    assert hit.text == ("To the end that my heart may sing praise to you, and not be silent. "
                        "Yahweh my God, I will give thanks to you forever.")


@pytest.mark.parametrize("damage", ["truncated", "garbled", "nan", "zero"])
def test_damaged_dense_embeddings_are_refused_naming_the_file_and_the_fix(encoder, tmp_path, damage):
    from safetensors.numpy import load_file, save_file

    from versebert.retrieval.dense import DenseIndex

    corpus = web_corpus()
    path = tmp_path / "dense.safetensors"
    DenseIndex.build(encoder, corpus.verse_ids, corpus.texts, show_progress=False).save(path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-40])
    elif damage == "garbled":  # bytes changed inside a file of the right size
        raw = bytearray(path.read_bytes())
        raw[-60:-20] = b"\x7f" * 40
        path.write_bytes(bytes(raw))
    else:
        tensors = load_file(str(path))
        tensors["embeddings"][1] = np.nan if damage == "nan" else 0.0
        save_file(tensors, str(path))
    with pytest.raises(UserError, match=r"dense embeddings .*dense\.safetensors.*versebert index build"):
        DenseIndex.load(path)


@pytest.mark.parametrize("query, notice", [
    ("John 99:99", "John has 21 chapters"),
    ("Jude 2:1", "Jude has 1 chapter;"),
    ("John 3:99", "John 3 has 36 verses"),
])
def test_a_reference_that_names_no_verse_says_why_and_searches_the_words(bm25_searcher, query, notice):
    notices = bm25_searcher.notices(query)
    assert len(notices) == 1 and notices[0].startswith(notice) and "searching the words" in notices[0]


@pytest.mark.parametrize("query", ["John 3:16", "job security", "top 10 verses", "give you a new heart"])
def test_valid_references_and_plain_words_get_no_notice(bm25_searcher, query):
    assert bm25_searcher.notices(query) == []


def test_a_query_of_words_unknown_to_the_model_is_reported(encoder):
    searcher = VerseSearcher(SearchIndex.build([web_corpus()], encoder, show_progress=False))
    unknown = "\u05d0\u05d4\u05d1\u05d4 \u2603"  # Hebrew and a snowman: no piece in the tiny vocabulary
    assert any("no word of the query is known to the model" in notice for notice in searcher.notices(unknown))
    assert searcher.notices("a cheerful giver") == []


def test_a_truncated_model_is_one_clear_error(model_dir, tmp_path):
    import shutil

    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    weights = next(broken.rglob("model.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(UserError, match="could not load a SentenceTransformer from .*is the directory complete"):
        DenseEncoder(broken)
