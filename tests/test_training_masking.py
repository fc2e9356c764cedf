"""BERT masking: proportions, what may never be masked, and reproducibility from the generator."""

from __future__ import annotations

import math

import pytest
import torch

from versebert.training.masking import CheckpointableGenerator, mask_tokens

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIAL_IDS = (PAD, UNK, CLS, SEP, MASK)
VOCAB = 1000


def padded_batch(rows: int = 400, width: int = 100, seed: int = 0) -> torch.Tensor:
    """[CLS] tokens [SEP] [PAD]...: every other row is padded after a random length."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (rows, width), generator=generator)
    lengths = torch.full((rows,), width)
    lengths[::2] = torch.randint(10, width, (rows // 2,), generator=generator)
    for row, length in enumerate(lengths.tolist()):
        ids[row, 0] = CLS
        ids[row, length - 1] = SEP
        ids[row, length:] = PAD
    return ids


def special_mask_of(ids: torch.Tensor) -> torch.Tensor:
    return torch.isin(ids, torch.tensor(SPECIAL_IDS))


def run_mask(ids, generator, **overrides):
    settings = dict(mask_token_id=MASK, vocab_size=VOCAB, special_token_ids=SPECIAL_IDS, generator=generator)
    return mask_tokens(ids, special_mask_of(ids), **(settings | overrides))


def within_binomial(count: int, trials: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - trials * p) <= sigmas * math.sqrt(trials * p * (1 - p))


def test_mask_proportions_are_15_percent_then_80_10_10():
    ids = padded_batch()
    masked, labels = run_mask(ids, torch.Generator().manual_seed(1))
    eligible = ~special_mask_of(ids)
    chosen = labels != -100
    assert within_binomial(int(chosen.sum()), int(eligible.sum()), 0.15)
    n = int(chosen.sum())
    as_mask = int((masked[chosen] == MASK).sum())
    unchanged = int((masked[chosen] == ids[chosen]).sum())
    as_random = n - as_mask - unchanged
    assert within_binomial(as_mask, n, 0.8)
    # a random replacement equal to the original counts as unchanged: p = 0.1 * 1/995 extra
    assert within_binomial(as_random, n, 0.1)
    assert within_binomial(unchanged, n, 0.1 + 0.1 / (VOCAB - 5))
    assert torch.equal(labels[chosen], ids[chosen])


def test_other_probabilities_are_honoured():
    ids = padded_batch(seed=3)
    masked, labels = run_mask(
        ids, torch.Generator().manual_seed(2), probability=0.3, mask_token_fraction=0.5, random_token_fraction=0.5
    )
    chosen = labels != -100
    assert within_binomial(int(chosen.sum()), int((~special_mask_of(ids)).sum()), 0.3)
    assert within_binomial(int((masked[chosen] == MASK).sum()), int(chosen.sum()), 0.5)


def test_padding_and_special_tokens_are_never_masked():
    ids = padded_batch()
    special = special_mask_of(ids)
    for seed in range(5):
        masked, labels = run_mask(ids, torch.Generator().manual_seed(seed), probability=0.9)
        assert (labels[special] == -100).all()
        assert torch.equal(masked[special], ids[special])


def test_random_replacements_are_non_special_ids():
    vocab = 12
    ids = torch.randint(5, vocab, (300, 20), generator=torch.Generator().manual_seed(0))
    ids[:, 0], ids[:, -1] = CLS, SEP
    masked, labels = run_mask(
        ids,
        torch.Generator().manual_seed(4),
        vocab_size=vocab,
        probability=1.0,
        mask_token_fraction=0.0,
        random_token_fraction=1.0,
    )
    replaced = masked[labels != -100]
    assert not torch.isin(replaced, torch.tensor(SPECIAL_IDS)).any()
    assert set(replaced.tolist()) == set(range(5, vocab))  # every non-special id can be drawn


def test_a_sequence_with_tokens_always_has_one_label():
    ids = torch.tensor([[CLS, 7, SEP, PAD, PAD]] * 200 + [[CLS, SEP, PAD, PAD, PAD]])
    masked, labels = run_mask(ids, torch.Generator().manual_seed(0))
    assert ((labels[:-1] != -100).sum(dim=1) == 1).all()  # the single word is always chosen
    assert (labels[-1] == -100).all()  # nothing to choose in an empty verse


def test_masks_reproduce_from_the_generator_state_and_differ_when_it_advances():
    ids = padded_batch(rows=20)
    generator = torch.Generator().manual_seed(11)
    state = generator.get_state()
    first = run_mask(ids, generator)
    second = run_mask(ids, generator)  # the same verses one "epoch" later
    assert not torch.equal(first[1], second[1])
    generator.set_state(state)
    again = run_mask(ids, generator)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert torch.equal(second[1], run_mask(ids, generator)[1])


def test_checkpointable_generator_restores_each_process_its_own_stream():
    processes = [CheckpointableGenerator(5, process_index=index) for index in range(2)]
    for process in processes:
        process._gather = lambda state: torch.cat([p.generator.get_state().unsqueeze(0) for p in processes])
    for process in processes:
        torch.rand(3, generator=process.generator)
    saved = processes[0].state_dict()  # what accelerate writes: the main process's gathered states
    expected = [torch.rand(4, generator=process.generator) for process in processes]
    assert not torch.equal(expected[0], expected[1])
    restored = [CheckpointableGenerator(99, process_index=index) for index in range(2)]
    for process in restored:
        process.load_state_dict(saved)
    assert all(torch.equal(torch.rand(4, generator=r.generator), e) for r, e in zip(restored, expected, strict=True))


def test_checkpointable_generator_refuses_more_processes_than_saved():
    saved = CheckpointableGenerator(0).state_dict()
    with pytest.raises(ValueError, match="same number of processes"):
        CheckpointableGenerator(0, process_index=1).load_state_dict(saved)


def test_whole_word_masking_chooses_every_piece_of_a_word_or_none():
    ids = padded_batch()
    generator = torch.Generator().manual_seed(3)
    # every third eligible position starts a word; the two after it are its ## pieces
    word_starts = (torch.arange(ids.shape[1]) % 3 == 1).expand_as(ids)
    _, labels = mask_tokens(ids, special_mask_of(ids), mask_token_id=MASK, vocab_size=VOCAB, generator=generator,
                            special_token_ids=SPECIAL_IDS, probability=0.4, word_starts=word_starts)
    chosen = labels != -100
    eligible = ~special_mask_of(ids)
    starts = torch.nonzero(word_starts[0]).squeeze(1).tolist()
    for row in range(ids.shape[0]):
        for start in starts:
            pieces = [p for p in range(start, min(start + 3, ids.shape[1])) if eligible[row, p]]
            assert len({bool(chosen[row, p]) for p in pieces}) <= 1, (row, start)
    rate = float(chosen.sum() / eligible.sum())
    assert 0.35 < rate < 0.45, "the rate is still the share of tokens chosen"


def test_the_trainer_masks_whole_words_of_its_wordpiece_vocabulary():
    from transformers import BertTokenizer

    from versebert.training.mlm import continuation_ids

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "beg", "##otten", "son", "##s"]
    tokenizer = BertTokenizer(vocab={token: index for index, token in enumerate(vocab)})
    assert continuation_ids(tokenizer).tolist() == [6, 8]
    plain = BertTokenizer(vocab={token: index for index, token in enumerate(vocab[:6])})
    from versebert.errors import UserError

    with pytest.raises(UserError, match="whole_word_masking"):
        continuation_ids(plain)
