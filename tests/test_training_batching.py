"""Length-grouped, reproducible batches and per-batch padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from versebert.training.batching import LengthGroupedBatchSampler, PaddingCollator, TokenSequences


def lengths(count=1000, seed=0):
    return np.random.default_rng(seed).integers(3, 120, count)


def padded_tokens(batches, lengths):
    return sum(len(batch) * lengths[batch].max() for batch in batches)


def test_each_sequence_appears_once_per_epoch_and_batches_are_full():
    sampler = LengthGroupedBatchSampler(lengths(1003), 10, seed=1)
    batches = sampler.batches()
    assert len(batches) == len(sampler) == 100 and all(len(batch) == 10 for batch in batches)
    flat = [index for batch in batches for index in batch]
    assert len(set(flat)) == len(flat) == 1000  # 3 left out of this epoch: the incomplete batch


def test_order_depends_only_on_seed_and_epoch():
    first = LengthGroupedBatchSampler(lengths(), 16, seed=3)
    second = LengthGroupedBatchSampler(lengths(), 16, seed=3)
    assert first.batches() == second.batches()
    second.set_epoch(1)
    assert first.batches() != second.batches()
    first.set_epoch(1)
    assert first.batches() == second.batches() == list(first)
    assert (
        LengthGroupedBatchSampler(lengths(), 16, seed=4).batches()
        != LengthGroupedBatchSampler(lengths(), 16, seed=3).batches()
    )


def test_grouping_by_length_cuts_padding():
    values = lengths(4000)
    grouped = LengthGroupedBatchSampler(values, 32, seed=0, group_batches=50).batches()
    plain = LengthGroupedBatchSampler(values, 32, seed=0, group_batches=1).batches()
    real = sum(values[index] for batch in grouped for index in batch)
    assert padded_tokens(grouped, values) < 1.1 * real
    assert padded_tokens(plain, values) > 1.5 * real
    # the batch order is shuffled: a group's batches do not come longest first, one after another
    maxima = np.array([values[batch].max() for batch in grouped])
    assert (np.diff(maxima[:50]) > 0).any()


def test_evaluation_batches_keep_every_sequence():
    sampler = LengthGroupedBatchSampler(lengths(25), 10, shuffle=False, drop_last=False)
    batches = sampler.batches()
    assert [len(batch) for batch in batches] == [10, 10, 5] and len(sampler) == 3
    assert sorted(index for batch in batches for index in batch) == list(range(25))


def test_too_few_sequences_for_one_batch_is_an_error():
    with pytest.raises(ValueError, match="lower the batch size"):
        LengthGroupedBatchSampler(lengths(5), 8)


def test_collator_pads_to_the_longest_sequence_in_the_batch():
    batch = PaddingCollator(pad_token_id=0)([np.array([2, 7, 3]), [2, 8, 9, 10, 3]])
    assert batch["input_ids"].tolist() == [[2, 7, 3, 0, 0], [2, 8, 9, 10, 3]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["input_ids"].dtype == torch.long
    assert PaddingCollator(0, pad_to_multiple_of=8)([[2, 3]])["input_ids"].shape == (1, 8)


def test_sequences_read_from_a_dataset_match_its_rows_even_after_filtering():
    import datasets

    rows = [[2, *range(5, 5 + n), 3] for n in (4, 1, 7, 2, 9)]
    dataset = datasets.Dataset.from_dict({"input_ids": rows, "length": [len(row) for row in rows]})
    view = dataset.filter(lambda row: row["length"] > 4)
    for source, expected in ((dataset, rows), (view, [row for row in rows if len(row) > 4])):
        sequences = TokenSequences.from_dataset(source)
        assert len(sequences) == len(expected)
        assert [sequence.tolist() for sequence in sequences.__getitems__(range(len(expected)))] == expected
        assert sequences.lengths.tolist() == [len(row) for row in expected]
    assert TokenSequences.from_lists(rows)[2].tolist() == rows[2]
