"""The per-text embedding store: a later list encodes only the texts no earlier list had, each once,
and a torn shard costs a re-encoding, never a wrong embedding."""

from __future__ import annotations

import numpy as np
import pytest

from versebert.retrieval.embedding_store import read_store, stored_embeddings, text_key


class CountingEncoder:
    """A deterministic fake model: the embedding of a text is its length and its first letter's code."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(text), ord(text[0])] for text in texts], dtype=np.float32)


def test_texts_met_before_come_from_the_store_and_only_new_ones_are_encoded_once(tmp_path):
    encoder = CountingEncoder()
    first = stored_embeddings(["love", "joy", "love"], tmp_path, encoder)
    np.testing.assert_array_equal(first, [[4, ord("l")], [3, ord("j")], [4, ord("l")]])
    assert encoder.calls == [["love", "joy"]], "each missing text encoded once, in first-seen order"
    second = stored_embeddings(["peace", "joy", "patience", "peace"], tmp_path, encoder)
    np.testing.assert_array_equal(second, CountingEncoder()(["peace", "joy", "patience", "peace"]))
    assert encoder.calls[1] == ["peace", "patience"]
    stored_embeddings(["joy", "love", "patience"], tmp_path, encoder)
    assert len(encoder.calls) == 2, "every text known: nothing encoded"
    assert len(list(tmp_path.glob("shard-*.npz"))) == 2 and len(read_store(tmp_path)) == 4


def test_a_torn_shard_is_skipped_and_its_texts_encoded_again(tmp_path):
    encoder = CountingEncoder()
    stored_embeddings(["faith", "hope"], tmp_path, encoder)
    (shard,) = tmp_path.glob("shard-*.npz")
    shard.write_bytes(shard.read_bytes()[:40])
    again = stored_embeddings(["faith", "hope"], tmp_path, encoder)
    np.testing.assert_array_equal(again, [[5, ord("f")], [4, ord("h")]])
    assert encoder.calls[-1] == ["faith", "hope"]


def test_an_encoder_that_returns_the_wrong_number_of_rows_is_refused(tmp_path):
    with pytest.raises(ValueError, match="returned 1 embeddings for 2 texts"):
        stored_embeddings(["a", "b"], tmp_path, lambda texts: np.zeros((1, 2)))
    assert not list(tmp_path.glob("shard-*")), "nothing stored"


def test_a_storing_encoder_gives_the_plain_embeddings_and_queries_never_touch_the_store(tmp_path, monkeypatch):
    from tests.test_retrieval_support import build_tiny_sentence_transformer
    from versebert.retrieval import DenseEncoder

    monkeypatch.setenv("VERSEBERT_CACHE", str(tmp_path / "cache"))
    model_dir = build_tiny_sentence_transformer(tmp_path / "model", seed=0)
    plain, storing = DenseEncoder(model_dir), DenseEncoder(model_dir, store_embeddings=True)
    texts = ["In the beginning God created the heavens and the earth.", "Jesus wept."]
    storing.encode_queries(["a new heart"])
    assert not (tmp_path / "cache" / "embeddings").exists(), "a search query is never stored"
    np.testing.assert_allclose(storing.encode(texts), plain.encode(texts), atol=1e-5)
    (store,) = (tmp_path / "cache" / "embeddings").iterdir()
    assert set(read_store(store)) == {text_key(text) for text in texts}
    other = DenseEncoder(build_tiny_sentence_transformer(tmp_path / "other", seed=1), store_embeddings=True)
    other.encode(texts)
    assert len(list((tmp_path / "cache" / "embeddings").iterdir())) == 2, "one store per model"
