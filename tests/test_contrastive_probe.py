"""The translation probe: which verses it holds out, which distractors it picks, how it scores."""

from __future__ import annotations

import numpy as np
import pytest

from versebert.training.contrastive_probe import (
    ProbeConfig,
    build_probe,
    held_out_verse_ids,
    is_held_out,
    lexical_neighbours,
    probe_accuracy,
)

CHAPTERS = (43001, 43002, 43003, 19023)
VERSE_IDS = [chapter * 1000 + verse for chapter in CHAPTERS for verse in range(1, 31)]
SOURCE = {verse_id: f"kjv text of verse {verse_id}" for verse_id in VERSE_IDS}
TARGET = {verse_id: f"bbe words for {verse_id}" for verse_id in VERSE_IDS}


class VerseIdentityEncoder:
    """A perfect encoder for this data: both translations of a verse map to that verse's vector."""

    def __init__(self, corrupt: set[int] = frozenset()):
        self.corrupt = corrupt

    def encode(self, texts, **kwargs):
        vectors = []
        for text in texts:
            verse_id = next(v for v in VERSE_IDS if text in (SOURCE[v], TARGET[v]))
            vector = np.random.default_rng(verse_id).normal(size=64)
            if verse_id in self.corrupt and text == SOURCE[verse_id]:
                vector = -vector  # its own translation now scores lowest
            vectors.append(vector / np.linalg.norm(vector))
        return np.array(vectors)


class ConstantEncoder:
    def encode(self, texts, **kwargs):
        return np.ones((len(texts), 4)) / 2


def probe(**overrides):
    settings = dict(held_out_per_mille=300, num_distractors=4, max_verses=1000, distractors="same_chapter")
    return build_probe(SOURCE, TARGET, ProbeConfig(**{**settings, **overrides}))


def test_held_out_verses_are_a_stable_hash_of_the_id():
    held_out = held_out_verse_ids(VERSE_IDS, 300)
    assert 0.15 < len(held_out) / len(VERSE_IDS) < 0.45
    assert held_out == held_out_verse_ids(list(reversed(VERSE_IDS)), 300)
    assert held_out == {verse_id for verse_id in VERSE_IDS if is_held_out(verse_id, 300)}
    assert held_out_verse_ids(VERSE_IDS, 300) >= held_out_verse_ids(VERSE_IDS, 100), "a larger share only adds"


def test_probe_queries_are_held_out_and_candidates_start_with_the_same_verse():
    built = probe()
    held_out = held_out_verse_ids(VERSE_IDS, 300)
    assert built.verse_ids and set(built.verse_ids) <= held_out
    for verse_id, query, candidates in zip(built.verse_ids, built.queries, built.candidates, strict=True):
        assert query == SOURCE[verse_id] and candidates[0] == TARGET[verse_id]
        assert len(candidates) == 5 and len(set(candidates)) == 5


def test_no_distractor_has_the_answer_text():
    """A formula repeated across a chapter would make the answer ambiguous."""
    formula = "And the Lord said to Moses,"
    target = {verse_id: formula if verse_id % 2 else text for verse_id, text in TARGET.items()}
    built = build_probe(SOURCE, target, ProbeConfig(held_out_per_mille=300, num_distractors=4, distractors="random"))
    assert any(candidates[0] == formula for candidates in built.candidates), "the test needs formula answers"
    for candidates in built.candidates:
        assert candidates[0] not in candidates[1:]


def test_same_chapter_distractors_come_from_the_verse_chapter():
    built = probe(distractors="same_chapter")
    by_text = {text: verse_id for verse_id, text in TARGET.items()}
    for verse_id, candidates in zip(built.verse_ids, built.candidates, strict=True):
        assert {by_text[text] // 1000 for text in candidates} == {verse_id // 1000}
    random_built = probe(distractors="random")
    assert any(
        len({by_text[text] // 1000 for text in candidates}) > 1 for candidates in random_built.candidates
    )


def test_lexical_distractors_share_the_rarest_words_with_the_query():
    names = ["Jared", "Enoch", "Seth", "Adam", "Noah", "Shem", "Ham", "Lamech", "Cainan", "Enos", "Abram", "Lot"]
    source = {10_000 + i: f"And {name} lived and begat sons and daughters" for i, name in enumerate(names)}
    target = {10_000 + i: f"{name} went on living and had sons and daughters" for i, name in enumerate(names)}
    target |= {20_000 + i: f"the story of {name} and his house" for i, name in enumerate(names)}
    target |= {30_000 + i: f"a verse about something else {i}" for i in range(60)}
    built = build_probe(source, target, ProbeConfig(held_out_per_mille=500, num_distractors=1))
    assert built.verse_ids
    for verse_id, candidates in zip(built.verse_ids, built.candidates, strict=True):
        assert candidates == (target[verse_id], target[verse_id + 10_000]), "the verse naming the same person"
    assert lexical_neighbours("Enoch begat", target, 2) == [10_001, 20_001]


def test_accuracy_counts_verses_whose_translation_beats_every_distractor():
    built = probe()
    assert probe_accuracy(VerseIdentityEncoder(), built) == 1.0
    broken = set(built.verse_ids[: len(built.verse_ids) // 2])
    assert probe_accuracy(VerseIdentityEncoder(corrupt=broken), built) == pytest.approx(
        1 - len(broken) / len(built.verse_ids)
    )
    assert probe_accuracy(ConstantEncoder(), built) == 0.0, "a tie is not a pass"
    assert built.chance == pytest.approx(1 / 5)


def test_probe_config_names_the_bad_field():
    with pytest.raises(ValueError, match="ProbeConfig.source and target must differ"):
        ProbeConfig(source="KJV", target="kjv")
    with pytest.raises(ValueError, match="ProbeConfig.num_distractors"):
        ProbeConfig(num_distractors=0)
    assert ProbeConfig().distractors == "lexical"
    with pytest.raises(ValueError, match="ProbeConfig.distractors"):
        ProbeConfig(distractors="nearby")
