"""Stage B's data: hard negatives mined by BM25, topic-to-topic pairs, every judged verse under the cap,
and the tail batches that carry no real contrast dropped."""

from __future__ import annotations

import json

import pytest

from versebert.data.openbible import Judgments, RelevanceRule, topic_verse_pairs
from versebert.training.config import ContrastiveTrainingConfig, QueryPairsConfig
from versebert.training.hard_negatives import NegativeRule, is_excluded, mine_negatives
from versebert.training.pairs import overlapping_topic_pairs, query_pairs
from versebert.training.verse_batch_sampler import encode_row_keys, plan_batches

# Matthew 6: verses about worry, and a few others sharing its words.
CORPUS = {
    40006025: "Therefore I tell you, don't be anxious for your life: what you will eat, or what you will drink.",
    40006026: "See the birds of the sky, that they don't sow, neither do they reap. Your Father feeds them.",
    40006027: "Which of you, by being anxious, can add one moment to his lifespan?",
    40006034: "Therefore don't be anxious for tomorrow, for tomorrow will be anxious for itself.",
    40006035: "Therefore don't be anxious for tomorrow, for tomorrow will be anxious for itself.",  # a duplicate
    50004006: "In nothing be anxious, but in everything, by prayer, let your requests be made known to God.",
    20027001: "Don't boast about tomorrow; for you don't know what a day may bring.",
    59004014: "Whereas you don't know what your life will be like tomorrow. For what is your life?",
    19023001: "Yahweh is my shepherd: I shall lack nothing.",
    43011035: "Jesus wept.",
}
JUDGED = {"worry about tomorrow": [40006034, 50004006], "the lord is my shepherd": [19023001]}
GROUPS = {40006035: 40006034, 40006034: 40006034}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VERSEBERT_CACHE", str(tmp_path / "cache"))


def test_the_exclusion_rule_skips_judged_verses_their_duplicates_and_neighbours():
    judged = JUDGED["worry about tomorrow"]
    assert is_excluded(40006034, judged, GROUPS, exclude_window=0)
    assert is_excluded(40006035, judged, GROUPS, exclude_window=0), "same text as a judged verse"
    assert is_excluded(40006033, judged, {}, exclude_window=1), "next to a judged verse"
    assert not is_excluded(40006032, judged, {}, exclude_window=1)
    assert not is_excluded(41006034, judged, {}, exclude_window=5), "another book's verse 34 is not a neighbour"


def test_mined_negatives_share_words_but_never_a_judged_verse():
    rule = NegativeRule(per_topic=2, exclude_window=1)
    mined = mine_negatives(list(JUDGED), JUDGED, CORPUS, rule, groups=GROUPS)
    worry = mined["worry about tomorrow"]
    assert len(worry) == 2
    for verse_id in worry:
        assert not is_excluded(verse_id, JUDGED["worry about tomorrow"], GROUPS, 1)
        assert "tomorrow" in CORPUS[verse_id].lower() or "anxious" in CORPUS[verse_id].lower()
    assert 40006035 not in worry and 40006033 not in worry


def test_a_topic_bm25_cannot_serve_keeps_its_rows_with_random_negatives_under_the_same_rule():
    """No unjudged verse shares a word with "the lord is my shepherd": its negatives are random verses
    that still pass the rule, the same ones every time, and BM25's come first where there are some."""
    rule = NegativeRule(per_topic=4, exclude_window=1)
    mined = mine_negatives(list(JUDGED), JUDGED, CORPUS, rule, groups=GROUPS, use_cache=False)
    shepherd = mined["the lord is my shepherd"]
    assert len(shepherd) == 4 and len(set(shepherd)) == 4
    assert not any(is_excluded(verse_id, JUDGED["the lord is my shepherd"], GROUPS, 1) for verse_id in shepherd)
    assert mine_negatives(list(JUDGED), JUDGED, CORPUS, rule, groups=GROUPS, use_cache=False) == mined
    worry = mined["worry about tomorrow"]
    by_bm25 = mine_negatives(list(JUDGED), JUDGED, CORPUS, NegativeRule(per_topic=2), groups=GROUPS)
    assert worry[:2] == by_bm25["worry about tomorrow"] and len(set(worry)) == 4


def test_mining_is_cached_by_content_and_a_corrupt_entry_is_mined_again(tmp_path):
    rule = NegativeRule(per_topic=2)
    first = mine_negatives(list(JUDGED), JUDGED, CORPUS, rule, groups=GROUPS)
    entries = list((tmp_path / "cache" / "negatives").glob("*.json"))
    assert len(entries) == 1 and json.loads(entries[0].read_text()) == first
    entries[0].write_text('{"worry about tom')  # torn write
    assert mine_negatives(list(JUDGED), JUDGED, CORPUS, rule, groups=GROUPS) == first
    assert json.loads(entries[0].read_text()) == first
    other = mine_negatives(list(JUDGED), JUDGED, CORPUS, NegativeRule(per_topic=1), groups=GROUPS)
    assert len(list((tmp_path / "cache" / "negatives").glob("*.json"))) == 2 and other != first


def test_rows_carry_their_negatives_as_extra_columns_in_their_own_translation():
    texts = {"WEB": CORPUS, "KJV": {verse_id: text.upper() for verse_id, text in CORPUS.items()}}
    negatives = {"worry about tomorrow": [20027001, 59004014, 40006025]}
    pairs = query_pairs(
        [("worry about tomorrow", 40006034), ("worry about tomorrow", 50004006)],
        texts, judged=JUDGED, negatives=negatives, negatives_per_row=1,
    )
    dataset = pairs.dataset()
    assert dataset.column_names == ["anchor", "positive", "negative_1"]
    assert len(dataset) == 4  # two verses x two translations
    for row in dataset:
        assert row["negative_1"] in {texts[code][v] for code in texts for v in negatives["worry about tomorrow"]}
        assert (row["positive"].isupper()) == (row["negative_1"].isupper()), "negative in the row's translation"
    assert len(set(dataset["negative_1"])) == 4, "the topic's rows take successive negatives"


def test_a_negative_of_one_row_never_shares_a_batch_with_a_topic_that_judged_it():
    texts = {"WEB": CORPUS}
    judged = {"worry about tomorrow": [40006034], "boasting": [20027001]}
    pairs = query_pairs(
        [("worry about tomorrow", 40006034), ("boasting", 20027001), ("tears", 43011035)],
        texts, judged=judged, negatives={"worry about tomorrow": [20027001], "tears": [19023001],
                                         "boasting": [59004014]},
        negatives_per_row=1,
    )
    batches = plan_batches(pairs.row_keys, [0, 1, 2], batch_size=3, drop_last=False)
    assert not any({0, 1} <= set(batch) for batch in batches), "Proverbs 27:1 would be a false negative"


def test_topics_with_overlapping_votes_become_pairs_and_thin_overlaps_do_not():
    judged = {
        "worry": [1, 2, 3, 4],
        "anxiety": [1, 2, 3, 5],  # Jaccard 3/5 with worry
        "fear": [1, 9, 10, 11],  # 1/7 with worry
        "Worry!": [1, 2, 3, 4],  # the same topic written differently: not a second wording
        "stress": [2, 3, 4, 5],  # 3/5 with worry, 3/5 with anxiety
    }
    pairs = overlapping_topic_pairs(judged, min_overlap=0.5, max_per_topic=2)
    assert ("worry", "anxiety") in pairs and ("worry", "stress") in pairs
    assert all("fear" not in pair for pair in pairs)
    assert ("worry", "Worry!") not in pairs
    assert len(pairs) == len(set(pairs))
    capped = overlapping_topic_pairs(judged, min_overlap=0.5, max_per_topic=1)
    assert sum("worry" in pair for pair in capped) <= 2  # its own choice, plus being chosen by another


def test_topic_pairs_are_rows_with_both_topics_as_keys():
    pairs = query_pairs([("worry", 40006034)], {"WEB": CORPUS}, judged={"worry": [40006034]},
                        topic_pairs=[("worry", "anxiety")])
    assert pairs.anchors == ("worry", "worry") and pairs.positives[1] == "anxiety"
    batches = plan_batches(pairs.row_keys, [0, 1], batch_size=2, drop_last=False, min_batch_size=1)
    assert all(len(batch) == 1 for batch in batches), "one topic twice in a batch is its own false negative"


def test_the_pair_builder_uses_every_judged_verse_under_the_cap():
    votes = {"hope": {1001001: 50, 1001002: 40, 1001003: 30, 1001004: 20, 1001005: 10}}
    judgments = Judgments(qrels={"hope": dict.fromkeys(votes["hope"], 1)}, votes=votes, rule=RelevanceRule(),
                          source="toy")
    assert len(topic_verse_pairs(judgments, max_per_topic=None)) == 5
    assert [pair.verse_id for pair in topic_verse_pairs(judgments, max_per_topic=4)] == [
        1001001, 1001002, 1001003, 1001004]


def test_tail_batches_smaller_than_the_minimum_are_dropped():
    keys = [[("verse", 1)]] * 3 + [[("verse", row)] for row in range(2, 6)]  # verse 1 three times
    row_keys = encode_row_keys(keys)
    order = list(range(len(keys)))
    assert plan_batches(row_keys, order, 4, False) == [[0, 3, 4, 5], [1, 6]]  # the tail pair: one negative each
    assert plan_batches(row_keys, order, batch_size=4, drop_last=False, min_batch_size=3) == [[0, 3, 4, 5]]
    with pytest.raises(ValueError, match="min_batch_size"):
        ContrastiveTrainingConfig(batch_size=8, min_batch_size=9)


def test_stage_b_settings_are_validated():
    with pytest.raises(ValueError, match="query_pairs.hard_negatives"):
        QueryPairsConfig(hard_negatives=-1)
    with pytest.raises(ValueError, match="query_pairs.topic_pair_min_overlap"):
        QueryPairsConfig(topic_pair_min_overlap=0)
