"""Pair construction for both contrastive stages, on a few in-memory verses."""

from __future__ import annotations

import pytest

from versebert.training.pairs import (
    duplicate_verse_groups,
    query_pairs,
    translation_pairs,
)
from versebert.training.verse_batch_sampler import plan_batches

JOHN_11_35 = 43011035
MOSES = (2006010, 2006029, 2013001)  # "And the LORD spake unto Moses, saying," in the KJV

TEXTS = {
    "KJV": {
        JOHN_11_35: "Jesus wept.",
        43003016: "For God so loved the world, that he gave his only begotten Son.",
        19023001: "The LORD is my shepherd; I shall not want.",
        **{verse_id: "And the LORD spake unto Moses, saying," for verse_id in MOSES},
    },
    "BBE": {
        JOHN_11_35: "And Jesus was weeping.",
        43003016: "For God had such love for the world that he gave his only Son.",
        19023001: "The Lord takes care of me as his sheep; I will not be without any good thing.",
        2006010: "And the Lord said to Moses,",
        2006029: "That the Lord said to Moses, I am the Lord:",
    },
    "WEB": {
        JOHN_11_35: "Jesus wept.",
        43003016: "For God so loved the world, that he gave his one and only Son.",
        19023001: "Yahweh is my shepherd: I shall lack nothing.",
        **{verse_id: "Yahweh spoke to Moses, saying," for verse_id in MOSES},
    },
}


def test_pairs_join_two_different_translations_of_the_same_verse():
    pairs = translation_pairs(TEXTS, pairs_per_verse=3, seed=0)
    text_to_verses = {}
    for verses in TEXTS.values():
        for verse_id, text in verses.items():
            text_to_verses.setdefault(text, set()).add(verse_id)
    for anchor, positive, verse_id in zip(pairs.anchors, pairs.positives, pairs.verse_ids, strict=True):
        assert anchor != positive
        assert verse_id in text_to_verses[anchor] and verse_id in text_to_verses[positive]


def test_identical_translations_and_repeated_text_pairs_are_not_pairs():
    pairs = translation_pairs(TEXTS, pairs_per_verse=3, seed=0)
    john = [(a, p) for a, p, v in zip(pairs.anchors, pairs.positives, pairs.verse_ids, strict=True) if v == JOHN_11_35]
    assert len(john) == 1 and set(john[0]) == {"Jesus wept.", "And Jesus was weeping."}  # KJV == WEB
    unordered = [frozenset(pair) for pair in zip(pairs.anchors, pairs.positives, strict=True)]
    assert len(unordered) == len(set(unordered)), "the same two texts were paired twice"


def test_pairs_per_verse_and_held_out_verses():
    one = translation_pairs(TEXTS, pairs_per_verse=1, seed=0)
    assert len(one.verse_ids) == len(set(one.verse_ids))
    held_out = {43003016, 19023001}
    pairs = translation_pairs(TEXTS, pairs_per_verse=3, exclude_verse_ids=held_out, seed=0)
    assert not held_out & set(pairs.verse_ids)
    assert translation_pairs(TEXTS, pairs_per_verse=2, seed=5) == translation_pairs(TEXTS, pairs_per_verse=2, seed=5)


def test_verses_with_identical_text_share_a_group():
    groups = duplicate_verse_groups(TEXTS)
    assert {groups[verse_id] for verse_id in MOSES} == {min(MOSES)}
    assert groups[JOHN_11_35] == JOHN_11_35 and groups[43003016] != groups[19023001]


def test_batches_of_translation_pairs_never_repeat_a_verse_group():
    pairs = translation_pairs(TEXTS, pairs_per_verse=3, seed=0)
    groups = duplicate_verse_groups(TEXTS)
    assert len({groups[verse_id] for verse_id in pairs.verse_ids}) < len(pairs), "the test needs repeated groups"
    for seed in range(10):
        order = list(range(len(pairs)))
        __import__("random").Random(seed).shuffle(order)
        for batch in plan_batches(pairs.row_keys, order, batch_size=4, drop_last=False):
            batch_groups = [groups[pairs.verse_ids[row]] for row in batch]
            assert len(batch_groups) == len(set(batch_groups))


def test_query_pairs_keep_topics_and_judged_verses_apart():
    topic_verses = [("Grief", JOHN_11_35), ("grief!", 43003016), ("love", 43003016), ("comfort", 19023001)]
    judged = {"comfort": {19023001, JOHN_11_35}}
    pairs = query_pairs(topic_verses, {"WEB": TEXTS["WEB"]}, judged=judged)
    assert pairs.anchors == ("Grief", "grief!", "love", "comfort")
    assert pairs.positives[2] == TEXTS["WEB"][43003016]
    keys = [set(own) for own, _ in pairs.row_keys]
    blocked = [set(block) for _, block in pairs.row_keys]
    assert keys[0] & keys[1], "one topic, up to case and punctuation"
    assert keys[1] & keys[2], "one verse"
    assert not keys[0] & keys[3] and keys[0] & blocked[3], "John 11:35 is judged relevant to 'comfort'"
    assert not keys[2] & blocked[3]
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]):
        for batch in plan_batches(pairs.row_keys, order, batch_size=4, drop_last=False):
            assert not {0, 1} <= set(batch) and not {1, 2} <= set(batch)


def test_query_pairs_skip_verses_a_translation_lacks():
    pairs = query_pairs([("obedience", 2013001), ("moses", 2006010)], {"BBE": TEXTS["BBE"], "WEB": TEXTS["WEB"]})
    assert [(a, p) for a, p in zip(pairs.anchors, pairs.positives, strict=True)] == [
        ("obedience", TEXTS["WEB"][2013001]),
        ("moses", TEXTS["BBE"][2006010]),
        ("moses", TEXTS["WEB"][2006010]),
    ]


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="pairs_per_verse must be a positive integer"):
        translation_pairs(TEXTS, pairs_per_verse=0)
    with pytest.raises(ValueError, match="at least two translations"):
        translation_pairs({"KJV": TEXTS["KJV"]}, pairs_per_verse=1)
    with pytest.raises(ValueError, match="PairSet is empty"):
        query_pairs([("grief", 99999999)], {"WEB": TEXTS["WEB"]})
