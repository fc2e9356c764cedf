"""Positive pairs for the two contrastive stages, each row with the keys its batch must respect.

Stage A (``translation_pairs``): one verse in two translations, so the encoder learns that KJV's
"charity suffereth long" and BBE's "love is never tired of waiting" mean the same thing. Stage B
(``query_pairs``): an OpenBible topic and a verse people voted relevant to it, so the encoder learns
how people actually search.

Both return a :class:`PairSet`: the text pairs plus, per row, the keys of
:mod:`.verse_batch_sampler` that keep false negatives out of a batch. Verse keys are *duplicate
groups*, not verse ids: ~70 verses of the KJV read exactly "And the LORD spake unto Moses, saying,",
and two of them in one batch would be each other's false negatives just like two translations of
one verse.

Everything here takes plain mappings (translation code → verse id → text), so tests run on a few
in-memory verses; :mod:`.contrastive` loads the real Bible and the validator's exclusions.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .verse_batch_sampler import RowKeys, VerseAwareBatchSamplerFactory, encode_row_keys

VerseTexts = Mapping[str, Mapping[int, str]]
"""Translation code → verse id → cleaned text (flagged verses already left out)."""

_NOT_WORD = re.compile(r"[\W_]+")


def normalize_for_matching(text: str) -> str:
    """Case, punctuation and spacing removed: the form in which two texts count as the same text."""
    return _NOT_WORD.sub(" ", text.casefold()).strip()


@dataclass(frozen=True)
class PairSet:
    """(anchor, positive) text pairs with per-row batch keys and the verse each row is about.

    ``negatives`` (optional) gives every row the same number of hard negative texts, which the loss
    reads as extra columns after the positive: (anchor, positive, negative_1, ..., negative_n).
    ``verse_ids`` is 0 for a row whose positive is not a verse (a topic-to-topic pair).
    ``teacher_targets`` (optional, :mod:`.teacher_guidance`): a teacher's embedding of every text of
    every row, (rows, columns, width), which the dataset carries as each row's label.
    """

    anchors: tuple[str, ...]
    positives: tuple[str, ...]
    verse_ids: tuple[int, ...]
    row_keys: RowKeys
    negatives: tuple[tuple[str, ...], ...] = ()
    teacher_targets: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        sizes = {len(self.anchors), len(self.positives), len(self.verse_ids), len(self.row_keys)}
        if self.negatives:
            sizes.add(len(self.negatives))
        if len(sizes) != 1:
            raise ValueError(
                f"PairSet fields differ in length: anchors {len(self.anchors)}, positives {len(self.positives)}, "
                f"verse_ids {len(self.verse_ids)}, row_keys {len(self.row_keys)}, negatives {len(self.negatives)}"
            )
        if not self.anchors:
            raise ValueError("PairSet is empty: no pair survived the filters (check translations, votes, exclusions)")
        if len({len(row) for row in self.negatives} | ({1} if self.negatives else set())) > 1 or (
            self.negatives and not self.negatives[0]
        ):
            raise ValueError("PairSet.negatives must give every row the same number (>= 1) of negatives")
        columns = 2 + (len(self.negatives[0]) if self.negatives else 0)
        if self.teacher_targets is not None and self.teacher_targets.shape[:2] != (len(self.anchors), columns):
            raise ValueError(
                f"PairSet.teacher_targets has shape {self.teacher_targets.shape} for {len(self.anchors)} rows "
                f"of {columns} texts"
            )

    def __len__(self) -> int:
        return len(self.anchors)

    def dataset(self):
        """The training dataset: exactly the text columns the loss reads, in (anchor, positive,
        negatives...) order, and with teacher targets their embeddings, flattened, as the label."""
        from datasets import Dataset

        columns = {"anchor": list(self.anchors), "positive": list(self.positives)}
        for position in range(len(self.negatives[0]) if self.negatives else 0):
            columns[f"negative_{position + 1}"] = [row[position] for row in self.negatives]
        if self.teacher_targets is not None:
            columns["label"] = self.teacher_targets.reshape(len(self), -1).tolist()
        return Dataset.from_dict(columns)

    def batch_sampler(self, min_batch_size: int = 2) -> VerseAwareBatchSamplerFactory:
        """The ``batch_sampler=`` training argument that keeps this set's false negatives apart."""
        return VerseAwareBatchSamplerFactory(self.row_keys, min_batch_size)


def duplicate_verse_groups(texts: VerseTexts) -> dict[int, int]:
    """Verse id → id of its group: verses whose text is the same (normalized) in any translation.

    The group id is the smallest verse id of the group, so it is stable across runs.
    """
    parent: dict[int, int] = {}

    def find(verse_id: int) -> int:
        root = verse_id
        while parent[root] != root:
            root = parent[root]
        while parent[verse_id] != root:  # path compression
            parent[verse_id], verse_id = root, parent[verse_id]
        return root

    for verses in texts.values():
        first_with_text: dict[str, int] = {}
        for verse_id, text in verses.items():
            parent.setdefault(verse_id, verse_id)
            other = first_with_text.setdefault(normalize_for_matching(text), verse_id)
            if other != verse_id:
                a, b = find(verse_id), find(other)
                parent[max(a, b)] = min(a, b)
    return {verse_id: find(verse_id) for verse_id in parent}


def translation_pairs(
    texts: VerseTexts,
    *,
    pairs_per_verse: int,
    exclude_verse_ids: Collection[int] = frozenset(),
    seed: int = 0,
) -> PairSet:
    """Stage A pairs: for each verse, up to ``pairs_per_verse`` pairs of two different translations.

    A verse needs at least two translations whose texts differ (KJV and Webster often agree word
    for word, and an identical pair teaches nothing). Pairs are drawn without replacement from the
    verse's translation pairs, each in a random direction; a text pair already used for another verse
    is not repeated. ``exclude_verse_ids`` (the probe's held-out verses) never appear.
    """
    if isinstance(pairs_per_verse, bool) or not isinstance(pairs_per_verse, int) or pairs_per_verse < 1:
        raise ValueError(f"pairs_per_verse must be a positive integer, got {pairs_per_verse!r}")
    if len(texts) < 2:
        raise ValueError(f"translation pairs need at least two translations, got {sorted(texts)}")
    groups = duplicate_verse_groups(texts)
    codes = sorted(texts)
    excluded = frozenset(exclude_verse_ids)
    rng = random.Random(seed)
    anchors, positives, verse_ids, keys = [], [], [], []
    seen: set[tuple[str, str]] = set()
    for verse_id in sorted(set().union(*(texts[code].keys() for code in codes)) - excluded):
        versions = {}  # normalized text -> one translation's text: identical versions count once
        for code in codes:
            if (text := texts[code].get(verse_id)) is not None:
                versions.setdefault(normalize_for_matching(text), text)
        candidates = list(itertools.combinations(sorted(versions), 2))
        rng.shuffle(candidates)
        taken = 0
        for first, second in candidates:
            if taken == pairs_per_verse:
                break
            if (first, second) in seen:
                continue
            seen.add((first, second))
            taken += 1
            anchor, positive = (versions[first], versions[second])
            if rng.random() < 0.5:
                anchor, positive = positive, anchor
            anchors.append(anchor)
            positives.append(positive)
            verse_ids.append(verse_id)
            keys.append([("verse", groups[verse_id])])
    return PairSet(tuple(anchors), tuple(positives), tuple(verse_ids), encode_row_keys(keys))


def query_pairs(
    topic_verses: Sequence[tuple[str, int]],
    texts: VerseTexts,
    *,
    judged: Mapping[str, Collection[int]] | None = None,
    groups: Mapping[int, int] | None = None,
    negatives: Mapping[str, Sequence[int]] | None = None,
    negatives_per_row: int = 0,
    topic_pairs: Sequence[tuple[str, str]] = (),
) -> PairSet:
    """Stage B pairs: (topic, verse text) for each (topic, verse id) and each translation in ``texts``.

    Within a batch no topic appears twice (as written, ignoring case and punctuation) and no verse
    group appears twice. With ``judged`` (topic → every verse judged relevant to it), a topic is also
    kept from meeting one of its judged verses as another row's positive or negative, a negative its
    own voters called relevant (as far as the batch planner can, see
    :func:`~.verse_batch_sampler.plan_batches`). ``groups`` defaults to the duplicate groups of ``texts``
    (pass the groups of more translations to catch more duplicates). Verses a translation lacks
    (or the validator flagged) give no row for that translation.

    ``negatives`` (topic → mined verse ids, best first; see :mod:`.hard_negatives`) with
    ``negatives_per_row`` > 0 gives each row that many hard negatives in the row's own translation,
    the topic's rows taking successive ones so they do not all repeat the first. A row whose topic has
    no mined verse in that translation is left out. ``topic_pairs`` adds (topic, topic) rows: two
    wordings of one need, with the first topic's negatives.
    """
    groups = duplicate_verse_groups(texts) if groups is None else groups
    anchors, positives, verse_ids, keys, blocked, row_negatives = [], [], [], [], [], []
    used: dict[str, int] = {}  # topic -> rows so far, to spread its negatives

    def negatives_for(topic: str, code: str) -> tuple[tuple[str, ...], list[tuple[str, int]]] | None:
        if negatives_per_row == 0:
            return (), []
        available = [v for v in (negatives or {}).get(topic, ()) if texts[code].get(v) is not None]
        if not available:
            return None
        start = used.get(topic, 0) * negatives_per_row
        used[topic] = used.get(topic, 0) + 1
        chosen = [available[(start + i) % len(available)] for i in range(negatives_per_row)]
        return tuple(texts[code][v] for v in chosen), [("verse", groups.get(v, v)) for v in chosen]

    def add(topic: str, positive: str, verse_id: int, row_keys: list, code: str, partner: str | None = None) -> None:
        mined = negatives_for(topic, code)
        if mined is None:
            return
        texts_of_negatives, negative_keys = mined
        anchors.append(topic)
        positives.append(positive)
        verse_ids.append(verse_id)
        keys.append([*row_keys, *negative_keys])  # another row's judged verse must not be this row's negative
        relevant = [*judged.get(topic, ()), *judged.get(partner, ())] if judged is not None else ()
        blocked.append([("verse", groups.get(other, other)) for other in relevant])
        row_negatives.append(texts_of_negatives)

    for topic, verse_id in topic_verses:
        topic_key = ("topic", normalize_for_matching(topic))
        for code in sorted(texts):
            text = texts[code].get(verse_id)
            if text is not None:
                add(topic, text, verse_id, [topic_key, ("verse", groups.get(verse_id, verse_id))], code)
    first_code = sorted(texts)[0]
    for topic, other in topic_pairs:
        topic_keys = [("topic", normalize_for_matching(topic)), ("topic", normalize_for_matching(other))]
        add(topic, other, 0, topic_keys, first_code, partner=other)
    return PairSet(
        tuple(anchors), tuple(positives), tuple(verse_ids), encode_row_keys(keys, blocked),
        tuple(row_negatives) if negatives_per_row else (),
    )


def overlapping_topic_pairs(
    judged: Mapping[str, Collection[int]], *, min_overlap: float, max_per_topic: int, min_judged: int = 2
) -> list[tuple[str, str]]:
    """Pairs of topics whose judged verse sets overlap by at least ``min_overlap`` (Jaccard).

    Two topics people judged with largely the same verses ("anxiety", "worry") are two wordings of one
    need: as a contrastive pair they teach the encoder exactly what the topic memory of search uses
    (query → nearest judged topic). Each topic keeps its ``max_per_topic`` most overlapping partners;
    topics with fewer than ``min_judged`` judged verses are too thin to compare. Each pair appears once,
    the topic listed first in ``judged`` as the anchor.
    """
    sets = {topic: frozenset(verses) for topic, verses in judged.items() if len(verses) >= min_judged}
    order = {topic: position for position, topic in enumerate(sets)}
    by_verse: dict[int, list[str]] = {}
    for topic, verses in sets.items():
        for verse_id in verses:
            by_verse.setdefault(verse_id, []).append(topic)
    chosen: set[tuple[str, str]] = set()
    for topic, verses in sets.items():
        shared: dict[str, int] = {}
        for verse_id in verses:
            for other in by_verse[verse_id]:
                if other != topic:
                    shared[other] = shared.get(other, 0) + 1
        scored = []
        for other, count in shared.items():
            jaccard = count / len(verses | sets[other])
            if jaccard >= min_overlap and normalize_for_matching(other) != normalize_for_matching(topic):
                scored.append((-jaccard, order[other], other))
        for _, _, other in sorted(scored)[:max_per_topic]:
            chosen.add((topic, other) if order[topic] < order[other] else (other, topic))
    return sorted(chosen, key=lambda pair: (order[pair[0]], order[pair[1]]))
