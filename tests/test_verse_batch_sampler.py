"""The batch sampler keeps false negatives out of every batch, uses each row once, and replays on resume."""

from __future__ import annotations

import pickle
import random

import pytest
from datasets import Dataset

from versebert.training.verse_batch_sampler import (
    VerseAwareBatchSampler,
    VerseAwareBatchSamplerFactory,
    cluster_run_order,
    encode_row_keys,
    plan_batches,
)


def many_translations_of_few_verses(num_verses=30, translations=6):
    """Rows as stage A makes them at their worst: every verse in many rows."""
    verse_of_row = [verse for verse in range(num_verses) for _ in range(translations)]
    random.Random(0).shuffle(verse_of_row)
    return verse_of_row, encode_row_keys([[("verse", verse)] for verse in verse_of_row])


def sampler_for(row_keys, batch_size, *, drop_last=False, seed=7, lengths=None, group_batches=1, clusters=None,
                cluster_rows=32):
    dataset = Dataset.from_dict({"anchor": [f"a{i}" for i in range(len(row_keys))]})
    lengths = tuple(lengths) if lengths is not None else None
    clusters = tuple(clusters) if clusters is not None else None
    factory = VerseAwareBatchSamplerFactory(
        row_keys, lengths=lengths, group_batches=group_batches, clusters=clusters, cluster_rows=cluster_rows
    )
    return factory(dataset, batch_size=batch_size, drop_last=drop_last, valid_label_columns=[], seed=seed)


def assert_replays_per_seed_and_changes_per_epoch(first, again):
    """Two samplers with one seed plan the same batches; the next epoch plans others, as many as it yields."""
    assert list(first) == list(again)
    epoch_zero = list(first)
    first.set_epoch(1)
    assert list(first) != epoch_zero
    assert len(first) == len(list(first))


def test_no_batch_holds_two_rows_of_one_verse():
    verse_of_row, row_keys = many_translations_of_few_verses()
    sampler = sampler_for(row_keys, batch_size=16)
    batches = list(sampler)
    for batch in batches:
        verses = [verse_of_row[row] for row in batch]
        assert len(verses) == len(set(verses)), f"a verse repeats in {sorted(verses)}"
    used = [row for batch in batches for row in batch]
    assert len(used) == len(set(used)), "a row was used twice"
    assert len(used) >= len(verse_of_row) - 6, "only lone rows of one verse left at the very end may be dropped"
    assert len(batches) == len(sampler)
    assert sum(len(batch) == 16 for batch in batches) >= len(verse_of_row) // 16 - 1, "batches should be full"


def test_a_plain_shuffle_would_repeat_verses():
    """The data above is hard enough that the property is not satisfied by chance."""
    verse_of_row, _ = many_translations_of_few_verses()
    order = list(range(len(verse_of_row)))
    random.Random(1).shuffle(order)
    batches = [order[start : start + 16] for start in range(0, len(order), 16)]
    assert any(len({verse_of_row[row] for row in batch}) < len(batch) for batch in batches)


def test_topic_and_verse_keys_are_both_respected():
    rows = [("love", 1), ("love", 2), ("hope", 2), ("hope", 3), ("faith", 4), ("grace", 1), ("peace", 5)]
    row_keys = encode_row_keys([[("topic", topic), ("verse", verse)] for topic, verse in rows])
    for seed in range(20):
        for batch in sampler_for(row_keys, batch_size=4, seed=seed):
            topics = [rows[row][0] for row in batch]
            verses = [rows[row][1] for row in batch]
            assert len(set(topics)) == len(topics) and len(set(verses)) == len(verses), [rows[r] for r in batch]


def test_blocked_keys_keep_a_judged_verse_out_of_its_topics_batch():
    # "anxiety" was judged relevant to verse 9, which is "worry"'s positive; other rows fit anywhere.
    keys = [[("topic", "anxiety"), ("verse", 1)], [("topic", "worry"), ("verse", 9)]]
    keys += [[("topic", f"other {i}"), ("verse", 100 + i)] for i in range(10)]
    row_keys = encode_row_keys(keys, [[("verse", 9)]] + [[]] * 11)
    for seed in range(30):
        order = list(range(12))
        random.Random(seed).shuffle(order)
        *batches, last = plan_batches(row_keys, order, batch_size=4, drop_last=False)
        assert all(not {0, 1} <= set(batch) for batch in batches), (seed, batches)
    assert any({0, 1} <= set(batch) for batch in plan_batches(encode_row_keys(keys), list(range(12)), 12, False))


def popular_verse_rows(ordinary=300, popular=10):
    """Every topic was judged relevant to the popular verses, so no popular row fits a batch strictly."""
    keys = [[("topic", i), ("verse", i)] for i in range(ordinary)]
    keys += [[("topic", f"p{j}"), ("verse", f"P{j}")] for j in range(popular)]
    blocked = [[("verse", f"P{j}") for j in range(popular)]] * (ordinary + popular)
    return encode_row_keys(keys, blocked)


def test_rows_blocked_by_every_other_row_are_still_batched_with_others():
    row_keys = popular_verse_rows()
    order = list(range(len(row_keys)))
    random.Random(0).shuffle(order)
    batches = plan_batches(row_keys, order, batch_size=32, drop_last=False)
    assert sorted(row for batch in batches for row in batch) == list(range(len(row_keys)))
    assert len(batches) == 10, [len(batch) for batch in batches]
    for batch in batches:
        batch_keys = [key for row in batch for key in row_keys[row][0]]
        assert len(batch_keys) == len(set(batch_keys)), "a topic or verse repeats"


def test_single_row_batches_are_dropped():
    row_keys = encode_row_keys([[("verse", 1)]] * 3 + [[("verse", 2)]])  # three rows of one verse
    assert plan_batches(row_keys, [0, 1, 2, 3], batch_size=2, drop_last=False) == [[0, 3]]


def test_drop_last_drops_only_incomplete_batches():
    _, row_keys = many_translations_of_few_verses(num_verses=10, translations=3)
    kept = plan_batches(row_keys, list(range(len(row_keys))), batch_size=8, drop_last=True)
    assert kept and all(len(batch) == 8 for batch in kept)


def test_same_seed_and_epoch_replay_the_same_batches_and_epochs_differ():
    _, row_keys = many_translations_of_few_verses()
    assert_replays_per_seed_and_changes_per_epoch(sampler_for(row_keys, 16, seed=3), sampler_for(row_keys, 16, seed=3))


def test_factory_survives_pickling_into_a_checkpoint():
    _, row_keys = many_translations_of_few_verses(num_verses=5, translations=2)
    factory = pickle.loads(pickle.dumps(VerseAwareBatchSamplerFactory(row_keys)))
    assert factory.row_keys == row_keys
    assert "rows=10" in repr(factory)


def test_keys_must_match_the_dataset():
    _, row_keys = many_translations_of_few_verses(num_verses=5, translations=2)
    dataset = Dataset.from_dict({"anchor": ["x"] * 3})
    with pytest.raises(ValueError, match="row_keys describe 10 rows but the dataset has 3"):
        VerseAwareBatchSampler(dataset, batch_size=2, drop_last=False, row_keys=row_keys)
    with pytest.raises(ValueError, match="row 0 has no keys"):
        encode_row_keys([[]])


def padded_tokens(batches, lengths):
    return sum(len(batch) * max(lengths[row] for row in batch) for batch in batches)


def test_length_grouping_pads_less_and_still_keeps_verses_apart():
    verse_of_row, row_keys = many_translations_of_few_verses(num_verses=60, translations=4)
    lengths = [random.Random(row).choice([3, 4, 30, 60, 90]) for row in range(len(row_keys))]
    plain = list(sampler_for(row_keys, 16))
    grouped = list(sampler_for(row_keys, 16, lengths=lengths, group_batches=5))
    assert sorted(row for batch in grouped for row in batch) == sorted(row for batch in plain for row in batch)
    assert padded_tokens(grouped, lengths) < 0.75 * padded_tokens(plain, lengths)
    for batch in grouped:
        verses = [verse_of_row[row] for row in batch]
        assert len(verses) == len(set(verses))
    longest = [max(lengths[row] for row in batch) for batch in grouped]
    assert longest != sorted(longest, reverse=True)  # long batches are spread over the epoch, not first


def test_length_grouped_batches_replay_per_epoch_and_respect_drop_last():
    _, row_keys = many_translations_of_few_verses(num_verses=50, translations=3)
    lengths = list(range(len(row_keys)))
    first, again = (sampler_for(row_keys, 16, lengths=lengths, group_batches=3, drop_last=True, seed=3)
                    for _ in range(2))
    assert all(len(batch) == 16 for batch in first)
    assert_replays_per_seed_and_changes_per_epoch(first, again)


def test_length_grouping_needs_one_length_per_row():
    _, row_keys = many_translations_of_few_verses(num_verses=5, translations=2)
    dataset = Dataset.from_dict({"anchor": ["x"] * 10})
    with pytest.raises(ValueError, match="3 lengths for 10 rows"):
        VerseAwareBatchSampler(dataset, batch_size=2, drop_last=False, row_keys=row_keys, lengths=[1, 2, 3])
    with pytest.raises(ValueError, match="pass their lengths"):
        VerseAwareBatchSampler(dataset, batch_size=2, drop_last=False, row_keys=row_keys, group_batches=4)
    with pytest.raises(ValueError, match="group_batches must be a positive integer"):
        VerseAwareBatchSampler(dataset, batch_size=2, drop_last=False, row_keys=row_keys, group_batches=0)


def clusters_of(row_count, cluster_count):
    return [random.Random(row).randrange(cluster_count) for row in range(row_count)]


def test_cluster_runs_use_every_row_once_in_runs_of_one_cluster():
    import torch

    clusters = clusters_of(500, 12)
    order = cluster_run_order(clusters, 8, torch.Generator().manual_seed(0))
    assert sorted(order) == list(range(500))
    runs, start = [], 0
    while start < len(order):  # a run ends when the cluster changes or after 8 rows
        end = start + 1
        while end < len(order) and end - start < 8 and clusters[order[end]] == clusters[order[start]]:
            end += 1
        runs.append(order[start:end])
        start = end
    assert max(len(run) for run in runs) == 8
    # only each cluster's last run is short (two consecutive short runs of one cluster would merge above)
    short = [clusters[run[0]] for run in runs if len(run) < 8]
    assert len(short) <= 12 + 1


def test_cluster_batches_hold_neighbourhoods_where_a_shuffle_spreads_them():
    verse_of_row = list(range(600))
    row_keys = encode_row_keys([[("verse", verse)] for verse in verse_of_row])
    clusters = clusters_of(600, 30)
    plain = list(sampler_for(row_keys, 32))
    clustered = list(sampler_for(row_keys, 32, clusters=clusters, cluster_rows=8))
    assert sorted(row for batch in clustered for row in batch) == list(range(600))

    def clusters_per_batch(batches):
        return sum(len({clusters[row] for row in batch}) for batch in batches) / len(batches)

    assert clusters_per_batch(clustered) < 8  # runs of up to 8 rows, so a few clusters a batch
    assert clusters_per_batch(plain) > 15


def test_cluster_batches_replay_per_epoch_and_refuse_bad_settings():
    _, row_keys = many_translations_of_few_verses(num_verses=40, translations=3)
    clusters = clusters_of(len(row_keys), 6)
    first, again = (sampler_for(row_keys, 16, clusters=clusters, cluster_rows=4, seed=3) for _ in range(2))
    assert_replays_per_seed_and_changes_per_epoch(first, again)
    dataset = Dataset.from_dict({"anchor": ["x"] * len(row_keys)})
    common = dict(batch_size=4, drop_last=False, row_keys=row_keys)
    with pytest.raises(ValueError, match="3 cluster ids for 120 rows"):
        VerseAwareBatchSampler(dataset, **common, clusters=[0, 1, 2])
    with pytest.raises(ValueError, match="not both"):
        VerseAwareBatchSampler(dataset, **common, clusters=clusters, lengths=[1] * 120, group_batches=2)
    with pytest.raises(ValueError, match="cluster_rows must be a positive integer"):
        VerseAwareBatchSampler(dataset, **common, clusters=clusters, cluster_rows=0)
