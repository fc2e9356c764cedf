"""Batches of variable-length token sequences: storage, length-grouped sampling, padding.

Verses run from a handful of tokens to over a hundred, so padding every batch to the longest
possible verse wastes most of the compute. Two pieces keep the waste small:

- :class:`LengthGroupedBatchSampler` shuffles, then sorts verses by length inside groups of many
  batches, so a batch holds verses of similar length; the order depends only on ``(seed, epoch)``,
  which makes it reproducible on resume (``accelerate.skip_first_batches`` skips what was done).
- :class:`PaddingCollator` pads a batch only to its own longest sequence (dynamic padding).

:class:`TokenSequences` keeps the sequences in one flat array with offsets (Arrow's own layout,
taken from a ``datasets.Dataset`` without copying rows through Python), so a batch is a few numpy
slices rather than a per-row Arrow lookup. Nothing here is MLM-specific.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class TokenSequences(Dataset):
    """Variable-length integer sequences stored as ``values[offsets[i]:offsets[i + 1]]``."""

    def __init__(self, values: np.ndarray, offsets: np.ndarray):
        values, offsets = np.asarray(values), np.asarray(offsets, dtype=np.int64)
        if offsets.ndim != 1 or offsets.size == 0 or offsets[0] != 0 or offsets[-1] != values.size:
            raise ValueError("offsets must start at 0 and end at len(values)")
        self.values = values
        self.offsets = offsets

    @classmethod
    def from_lists(cls, sequences: Sequence[Sequence[int]]) -> TokenSequences:
        lengths = np.fromiter((len(sequence) for sequence in sequences), dtype=np.int64, count=len(sequences))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        values = np.fromiter((token for sequence in sequences for token in sequence), dtype=np.int64)
        return cls(values, offsets)

    @classmethod
    def from_dataset(cls, dataset, column: str = "input_ids") -> TokenSequences:
        """The list column ``column`` of a ``datasets.Dataset``, read straight from its Arrow buffers."""
        if column not in dataset.column_names:
            raise ValueError(f"the dataset has no {column!r} column (columns: {', '.join(dataset.column_names)})")
        if dataset._indices is not None:  # a filtered/shuffled view: materialise the selected rows
            dataset = dataset.flatten_indices()
        array = dataset.data.column(column).combine_chunks()
        offsets = array.offsets.to_numpy()
        values = array.values.to_numpy()[offsets[0] : offsets[-1]]
        return cls(values, offsets - offsets[0])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return self.offsets.size - 1

    def __getitem__(self, index: int) -> np.ndarray:
        return self.values[self.offsets[index] : self.offsets[index + 1]]

    def __getitems__(self, indices: Sequence[int]) -> list[np.ndarray]:
        """The whole batch at once (torch's DataLoader calls this when a dataset has it)."""
        return [self.values[self.offsets[index] : self.offsets[index + 1]] for index in indices]


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Shuffled batches of similar-length sequences, reproducible from ``(seed, epoch)``.

    Per epoch: shuffle all indices, cut them into groups of ``group_batches * batch_size``, sort
    each group by length (longest first), cut it into batches and shuffle the batch order (so the
    long batches are spread over the epoch). ``group_batches=1`` gives plain random batches; with
    ``shuffle=False`` (evaluation) batches are simply consecutive runs of the length-sorted data.

    ``drop_last`` drops the one incomplete batch, so every batch has ``batch_size`` sequences
    (accelerate's multi-process sharding expects equal batches). Call :meth:`set_epoch` before
    each epoch.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        seed: int = 0,
        group_batches: int = 50,
        shuffle: bool = True,
        drop_last: bool = True,
    ):
        if batch_size <= 0 or group_batches <= 0:
            raise ValueError(f"batch_size and group_batches must be positive, got {batch_size}, {group_batches}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = batch_size
        self.seed = seed
        self.group_batches = group_batches
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.epoch = 0
        if len(self) == 0:
            raise ValueError(
                f"{self.lengths.size} sequence(s) make no full batch of {batch_size}; lower the batch size"
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """This epoch's batches, as lists of indices."""
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.shuffle:
            order = rng.permutation(self.lengths.size)
            group_size = self.batch_size * self.group_batches
            groups = [order[start : start + group_size] for start in range(0, order.size, group_size)]
            order = np.concatenate([group[np.argsort(-self.lengths[group], kind="stable")] for group in groups])
        else:
            order = np.argsort(-self.lengths, kind="stable")
        batches = [order[start : start + self.batch_size].tolist() for start in range(0, order.size, self.batch_size)]
        if self.drop_last and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:  # spread each group's long batches over the epoch
            batches = [batches[index] for index in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        full, remainder = divmod(self.lengths.size, self.batch_size)
        return full + (1 if remainder and not self.drop_last else 0)


class PaddingCollator:
    """Pads a list of sequences to the longest one: ``input_ids`` and an ``attention_mask`` (1 = token)."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None):
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, sequences: Sequence[Sequence[int] | np.ndarray]) -> dict[str, torch.Tensor]:
        lengths = np.fromiter((len(sequence) for sequence in sequences), dtype=np.int64, count=len(sequences))
        width = int(lengths.max(initial=0))
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = np.full((len(sequences), width), self.pad_token_id, dtype=np.int64)
        for row, sequence in enumerate(sequences):
            input_ids[row, : lengths[row]] = sequence
        attention_mask = (np.arange(width) < lengths[:, None]).astype(np.int64)
        return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attention_mask)}


__all__ = ["LengthGroupedBatchSampler", "PaddingCollator", "TokenSequences"]
