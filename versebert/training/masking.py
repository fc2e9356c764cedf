"""BERT's dynamic masking, as a pure function of the batch and a random generator.

Masks are drawn per batch in the training loop, not once in the corpus: every epoch shows each
verse with new masks. They are drawn from an explicit ``torch.Generator`` (never the global RNG,
never inside a DataLoader worker or collator that prefetches ahead of the model), so a resumed run
draws exactly the masks the uninterrupted run would have: :class:`CheckpointableGenerator` carries
that generator's state into accelerate checkpoints.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection

import torch


@functools.lru_cache(maxsize=8)
def _replacement_pool(vocab_size: int, special_token_ids: frozenset[int]) -> torch.Tensor:
    """Every id a random replacement may take: the whole vocabulary but the special tokens."""
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[[index for index in special_token_ids if 0 <= index < vocab_size]] = False
    pool = allowed.nonzero().squeeze(1)
    if pool.numel() == 0:
        raise ValueError("the vocabulary has no non-special token to use as a random replacement")
    return pool


def mask_tokens(
    input_ids: torch.Tensor,
    special_mask: torch.Tensor,
    *,
    mask_token_id: int,
    vocab_size: int,
    generator: torch.Generator,
    special_token_ids: Collection[int],
    probability: float = 0.15,
    mask_token_fraction: float = 0.8,
    random_token_fraction: float = 0.1,
    word_starts: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose tokens to predict and corrupt them; returns ``(masked_input_ids, labels)``.

    Each position where ``special_mask`` is False is chosen with ``probability``; a chosen token
    becomes [MASK] with ``mask_token_fraction``, a random non-special token (never one of
    ``special_token_ids``) with ``random_token_fraction``, and otherwise stays as it is. ``labels``
    hold the original id at chosen positions and -100 elsewhere. Positions under ``special_mask``
    (padding, [CLS], [SEP]) are never chosen.

    As in BERT's data pipeline, a sequence with at least one eligible token always has one chosen
    (the one with the smallest draw): otherwise a very short verse would often carry no label, and a
    batch of them would have an undefined (0/0) loss.

    With ``word_starts`` (True where a token begins a word, False on WordPiece ``##`` continuations),
    whole words are chosen: every piece of a word shares the draw of its first piece, so "begotten"
    split as "beg ##otten" is never half masked and left guessable from the other half (whole-word
    masking). Each chosen piece is then corrupted by the 80/10/10 rule on its own.

    All randomness comes from ``generator`` (a CPU generator; the tensors must be on the CPU).
    """
    if input_ids.shape != special_mask.shape:
        raise ValueError(f"special_mask has shape {tuple(special_mask.shape)}, input_ids {tuple(input_ids.shape)}")
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must have shape (batch, length), got {tuple(input_ids.shape)}")
    eligible = ~special_mask.bool()
    draw = torch.rand(input_ids.shape, generator=generator)
    word_of = torch.arange(input_ids.shape[1]).expand_as(input_ids)  # position of each token's word start
    if word_starts is not None:
        if word_starts.shape != input_ids.shape:
            raise ValueError(f"word_starts has shape {tuple(word_starts.shape)}, input_ids {tuple(input_ids.shape)}")
        starts = word_starts.bool() | ~eligible  # a special token never continues a word
        word_of = torch.where(starts, word_of, 0).cummax(dim=1).values
        draw = draw.gather(1, word_of)
    chosen = (draw < probability) & eligible
    smallest = draw.masked_fill(~eligible, 2.0).argmin(dim=1, keepdim=True)
    chosen |= word_of == word_of.gather(1, smallest)  # the forced pick: its whole word
    chosen &= eligible  # rows without an eligible token stay unchosen

    action = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (action < mask_token_fraction)
    to_random = chosen & (action >= mask_token_fraction) & (action < mask_token_fraction + random_token_fraction)
    pool = _replacement_pool(vocab_size, frozenset(special_token_ids))
    random_ids = pool[torch.randint(pool.numel(), input_ids.shape, generator=generator)]

    masked = torch.where(to_mask, torch.full_like(input_ids, mask_token_id), input_ids)
    masked = torch.where(to_random, random_ids.to(input_ids.dtype), masked)
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    return masked, labels


class CheckpointableGenerator:
    """A seeded CPU ``torch.Generator`` per process whose state travels with accelerate checkpoints.

    Register it with ``accelerator.register_for_checkpointing``. accelerate calls ``state_dict`` on
    every process but writes only the main process's result, and every process loads that one file;
    so ``state_dict`` gathers all processes' states (``gather`` concatenates a tensor from every
    process, e.g. ``accelerator.gather``) and ``load_state_dict`` picks this process's own.
    """

    def __init__(
        self,
        seed: int,
        *,
        process_index: int = 0,
        gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        self.process_index = process_index
        self.generator = torch.Generator().manual_seed(seed + process_index)
        self._gather = gather

    def state_dict(self) -> dict:
        state = self.generator.get_state()
        states = state.unsqueeze(0) if self._gather is None else self._gather(state.unsqueeze(0))
        return {"states": [row.clone() for row in states]}

    def load_state_dict(self, state_dict: dict) -> None:
        states = state_dict["states"]
        if self.process_index >= len(states):
            raise ValueError(
                f"the checkpoint holds masking RNG states for {len(states)} process(es); this is process "
                f"{self.process_index}: resume with the same number of processes"
            )
        self.generator.set_state(states[self.process_index])


__all__ = ["CheckpointableGenerator", "mask_tokens"]
