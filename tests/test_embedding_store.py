"""The per-text embedding store: a later list encodes only the texts no earlier list had, each once,
and a torn shard costs a re-encoding, never a wrong embedding."""

from __future__ import annotations

import numpy as np
import pytest

from versebert.training.embedding_store import read_store, stored_embeddings


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
