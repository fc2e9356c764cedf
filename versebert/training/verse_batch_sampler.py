"""Batches for in-batch-negative losses in which no row's negatives include one of its positives.

``MultipleNegativesRankingLoss`` treats every other positive in a batch as a negative. Two
translations of one verse, two identical verses ("And the LORD spake unto Moses, saying," occurs
dozens of times), one topic with two of its verses, or a verse a topic was judged relevant to: each
puts a true positive among the negatives and teaches the model to push apart what should be close.
sentence-transformers' ``NO_DUPLICATES`` only compares exact text, so it catches none of these.

Each row therefore declares two sets of keys (integers, see :func:`encode_row_keys`):

- ``keys``: what the row brings into a batch (its verse group, its topic);
- ``blocked``: keys that must not appear elsewhere in the batch (its own keys, and for a topic every
  verse judged relevant to it).

Two rows may share a batch only if neither's ``blocked`` meets the other's ``keys`` (``keys`` are a
hard rule, the rest of ``blocked`` is honoured while it can be, see :func:`plan_batches`). The
planner is greedy, like ``NoDuplicatesBatchSampler``: walk a seeded shuffle, defer a conflicting row
to the next batch, so every row is used at most once per epoch (a lone row at the very end is
dropped) and the order is a pure function of ``seed + epoch``, which is what resuming from a
checkpoint needs to replay the same batches.

Rows of very different lengths (three-word topics beside ninety-token verses) pad every batch to its
longest row. Given the rows' ``lengths`` and ``group_batches`` > 1, the shuffle is cut into groups of
``group_batches`` batches, each sorted by length before it is planned, and the batches are then
shuffled, as :class:`~.batching.LengthGroupedBatchSampler` does for the MLM.

Given each row's ``clusters`` id instead (topic-aware sampling, Hofstätter et al. 2021, "TAS-B"), the
shuffle is made of runs of ``cluster_rows`` rows of one cluster: a batch then holds a few neighbourhoods
of the teacher's space, where its similarities say the most, instead of texts that are all far apart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler

RowKeys = tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]
"""Per row: (keys, blocked), both as interned integer ids; ``blocked`` includes ``keys``."""


def encode_row_keys(keys: Sequence[Iterable[Hashable]], blocked: Sequence[Iterable[Hashable]] | None = None) -> RowKeys:
    """Intern hashable keys to small integers (compact to pickle into every checkpoint's arguments).

    ``blocked[i]`` defaults to ``keys[i]``; a row always blocks its own keys.
    """
    if blocked is not None and len(blocked) != len(keys):
        raise ValueError(f"blocked has {len(blocked)} rows but keys has {len(keys)}")
    ids: dict[Hashable, int] = {}

    def intern(values: Iterable[Hashable]) -> tuple[int, ...]:
        return tuple(sorted({ids.setdefault(value, len(ids)) for value in values}))

    rows = []
    for index, row in enumerate(keys):
        own = intern(row)
        if not own:
            raise ValueError(f"row {index} has no keys; every row needs at least one (e.g. its verse id)")
        extra = intern(blocked[index]) if blocked is not None else ()
        rows.append((own, tuple(sorted(set(own) | set(extra)))))
    return tuple(rows)


def plan_batches(
    row_keys: RowKeys, order: Sequence[int], batch_size: int, drop_last: bool, min_batch_size: int = 2
) -> list[list[int]]:
    """Cut ``order`` into batches in which no row meets another row's keys or blocked keys.

    Each batch takes, in order, every pending row that fits; rows that do not fit are deferred and
    open the next batch. ``keys`` are a hard rule; blocked keys are honoured while they can be. A verse
    judged relevant to hundreds of topics (John 3:16 is, for 454 train topics) conflicts with nearly
    every row, so a batch it opens would stay a batch of one: when no pending row fits a batch any
    more, it is completed with rows that only keep the keys apart. On the train topics (3 pairs per
    topic, batches of 64) this leaves 0.07 judged verses among a row's negatives instead of a plain
    shuffle's 0.73, in 197 batches instead of 177.

    Batches of fewer than ``min_batch_size`` rows are dropped. They only happen at the end, to rows
    whose keys collide with every other row left, and their loss says little: one row has no negative
    (loss 0), two rows have one each (a loss near ln 2 that makes a curve look like a breakthrough).
    The rows dropped differ between epochs, as the order does. Other incomplete batches (the last
    ones) are kept unless ``drop_last``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if not 1 <= min_batch_size <= batch_size:
        raise ValueError(f"min_batch_size must be in [1, batch_size={batch_size}], got {min_batch_size}")
    pending = deque(order)
    batches = []
    while pending:
        batch: list[int] = []
        taken: set[int] = set()
        forbidden: set[int] = set()
        for strict in (True, False):
            deferred = []
            while pending and len(batch) < batch_size:
                row = pending.popleft()
                keys, blocked = row_keys[row]
                if strict:
                    fits = forbidden.isdisjoint(keys) and taken.isdisjoint(blocked)
                else:
                    fits = taken.isdisjoint(keys)
                if fits:
                    batch.append(row)
                    taken.update(keys)
                    forbidden.update(blocked)
                else:
                    deferred.append(row)
            pending.extendleft(reversed(deferred))
        if len(batch) == batch_size or not (drop_last or len(batch) < min_batch_size):
            batches.append(batch)
    return batches


def cluster_run_order(clusters: Sequence[int], run_length: int, generator: torch.Generator) -> list[int]:
    """Every row once, in runs of up to ``run_length`` rows of one cluster, the runs in random order.

    Each cluster's rows are shuffled and cut into runs; only a cluster's last run can be shorter.
    """
    if run_length < 1:
        raise ValueError(f"run_length must be a positive integer, got {run_length}")
    members: dict[int, list[int]] = {}
    for row in torch.randperm(len(clusters), generator=generator).tolist():
        members.setdefault(clusters[row], []).append(row)
    runs = [rows[start : start + run_length] for rows in members.values() for start in range(0, len(rows), run_length)]
    return [row for index in torch.randperm(len(runs), generator=generator).tolist() for row in runs[index]]


class VerseAwareBatchSampler(DefaultBatchSampler):
    """A ``DefaultBatchSampler`` whose batches follow :func:`plan_batches` over ``row_keys``.

    Built by the trainer through :class:`VerseAwareBatchSamplerFactory` (the trainer passes only the
    dataset and its own arguments, and the dataset may hold nothing but text columns, since every
    column is tokenized and fed to the loss).
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        *,
        row_keys: RowKeys,
        min_batch_size: int = 2,
        lengths: Sequence[int] | None = None,
        group_batches: int = 1,
        clusters: Sequence[int] | None = None,
        cluster_rows: int = 32,
    ) -> None:
        super().__init__(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
        )
        if len(row_keys) != len(dataset):
            raise ValueError(
                f"row_keys describe {len(row_keys)} rows but the dataset has {len(dataset)}; "
                "build both from the same PairSet"
            )
        if lengths is not None and len(lengths) != len(row_keys):
            raise ValueError(f"{len(lengths)} lengths for {len(row_keys)} rows")
        if isinstance(group_batches, bool) or not isinstance(group_batches, int) or group_batches < 1:
            raise ValueError(f"group_batches must be a positive integer, got {group_batches!r}")
        if group_batches > 1 and lengths is None:
            raise ValueError("group_batches > 1 groups rows by length: pass their lengths")
        if clusters is not None:
            if len(clusters) != len(row_keys):
                raise ValueError(f"{len(clusters)} cluster ids for {len(row_keys)} rows")
            if group_batches > 1:
                raise ValueError("rows come either in runs of one cluster or grouped by length, not both")
            if isinstance(cluster_rows, bool) or not isinstance(cluster_rows, int) or cluster_rows < 1:
                raise ValueError(f"cluster_rows must be a positive integer, got {cluster_rows!r}")
        self.row_keys = row_keys
        self.min_batch_size = min_batch_size
        self.lengths = lengths
        self.group_batches = group_batches
        self.clusters = clusters
        self.cluster_rows = cluster_rows
        self._plan: tuple[int, list[list[int]]] | None = None

    def _batches(self) -> list[list[int]]:
        """The plan of the current epoch, computed once (``__len__`` and ``__iter__`` share it)."""
        if self._plan is None or self._plan[0] != self.epoch:
            generator = torch.Generator().manual_seed(int(self.seed or 0) + self.epoch)
            if self.clusters is not None:
                order = cluster_run_order(self.clusters, self.cluster_rows, generator)
            else:
                order = torch.randperm(len(self.row_keys), generator=generator).tolist()
            if self.group_batches > 1:  # rows a batch defers spill into the next group's first batch
                group_size = self.batch_size * self.group_batches
                groups = (order[start : start + group_size] for start in range(0, len(order), group_size))
                order = [row for group in groups for row in sorted(group, key=lambda row: -self.lengths[row])]
            batches = plan_batches(self.row_keys, order, self.batch_size, self.drop_last, self.min_batch_size)
            if self.group_batches > 1:  # spread each group's long batches over the epoch
                batches = [batches[index] for index in torch.randperm(len(batches), generator=generator).tolist()]
            self._plan = (self.epoch, batches)
        return self._plan[1]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches()

    def __len__(self) -> int:
        return len(self._batches())


@dataclass(frozen=True)
class VerseAwareBatchSamplerFactory:
    """The ``batch_sampler=`` argument of the training arguments: called by the trainer with the
    dataset, returns a :class:`VerseAwareBatchSampler` over these ``row_keys``.

    A module-level class rather than a closure, because the trainer pickles its arguments into every
    checkpoint.
    """

    row_keys: RowKeys
    min_batch_size: int = 2
    lengths: tuple[int, ...] | None = None
    group_batches: int = 1
    clusters: tuple[int, ...] | None = None
    cluster_rows: int = 32

    def __call__(
        self,
        dataset,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> VerseAwareBatchSampler:
        return VerseAwareBatchSampler(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
            row_keys=self.row_keys,
            min_batch_size=self.min_batch_size,
            lengths=self.lengths,
            group_batches=self.group_batches,
            clusters=self.clusters,
            cluster_rows=self.cluster_rows,
        )

    def __repr__(self) -> str:  # the trainer logs its arguments; 60k rows of keys are not worth printing
        return f"{type(self).__name__}(rows={len(self.row_keys)})"
