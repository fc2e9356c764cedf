"""Hard negatives for stage B: verses BM25 ranks high for a topic that its voters did not judge.

In-batch negatives are random verses, most of them trivially unrelated to the topic; a verse that
shares the topic's words but was not voted relevant is what the model must learn to rank lower. The
exclusion rule keeps false negatives out: a candidate is skipped when it is judged for the topic,
reads the same as a judged verse (same duplicate group), or stands within ``exclude_window`` verses of
a judged verse in its chapter (the neighbours of a judged verse are often part of the same passage,
and OpenBible's long judged ranges are not in the graded judgments at all).

A topic whose BM25 ranking runs out before ``per_topic`` negatives (no shared words: "abortion",
"self-esteem") is topped up with random verses that pass the same rule. Leaving its rows out instead
dropped 15% of stage B's pairs, and exactly the topics only a semantic model can serve.

Mining is BM25 over one translation plus a random generator seeded by the topic, so it is
deterministic; its result (verse ids per topic) is cached machine-wide under the data cache, keyed by
the topics, the corpus and the settings.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

from ..data.cache import cache_dir, fingerprint, write_text_atomically


@dataclass(frozen=True)
class NegativeRule:
    """How many negatives to mine per topic, from how deep a BM25 ranking, and what is excluded."""

    per_topic: int
    depth: int = 100
    exclude_window: int = 1


def is_excluded(
    candidate: int, judged: Collection[int], groups: Mapping[int, int], exclude_window: int
) -> bool:
    """Whether ``candidate`` may be relevant to a topic whose judged verses are ``judged``."""
    group = groups.get(candidate, candidate)
    for verse_id in judged:
        if verse_id == candidate or groups.get(verse_id, verse_id) == group:
            return True
        same_chapter = verse_id // 1000 == candidate // 1000
        if same_chapter and abs(verse_id - candidate) <= exclude_window:
            return True
    return False


def mine_negatives(
    topics: Sequence[str],
    judged: Mapping[str, Collection[int]],
    corpus: Mapping[int, str],
    rule: NegativeRule,
    *,
    groups: Mapping[int, int] | None = None,
    use_cache: bool = True,
) -> dict[str, list[int]]:
    """Topic → up to ``rule.per_topic`` verse ids of ``corpus``, best BM25 rank first, none excluded.

    A topic whose BM25 ranking runs out (few shared words) is topped up with random verses that pass
    the rule, drawn by a generator seeded by the topic (``corpus`` must hold enough of them).
    """
    from ..retrieval.bm25 import BM25Index

    groups = groups or {}
    topics = list(dict.fromkeys(topics))
    key = fingerprint(
        {
            "topics": topics,
            "judged": {topic: sorted(judged.get(topic, ())) for topic in topics},
            "corpus": sorted(corpus.items()),
            "groups": sorted(groups.items()),
            "rule": [rule.per_topic, rule.depth, rule.exclude_window, "random top-up"],
        }
    )
    cached = cache_dir("negatives") / f"{key}.json"
    if use_cache and cached.is_file():
        try:
            return json.loads(cached.read_text(encoding="utf-8"))
        except ValueError:  # a torn or corrupt entry: mine again and replace it
            pass
    verse_ids = sorted(corpus)
    index = BM25Index.build(verse_ids, [corpus[verse_id] for verse_id in verse_ids])
    mined = {}
    for topic in tqdm(topics, desc="mining hard negatives", unit="topic"):
        relevant = judged.get(topic, ())
        chosen = []
        for verse_id, _ in index.search(topic, rule.depth):
            if len(chosen) == rule.per_topic:
                break
            if not is_excluded(verse_id, relevant, groups, rule.exclude_window):
                chosen.append(verse_id)
        mined[topic] = chosen + _random_negatives(topic, rule.per_topic - len(chosen), verse_ids, chosen,
                                                  relevant, groups, rule.exclude_window)
    if use_cache:
        write_text_atomically(cached, json.dumps(mined))
    return mined


def _random_negatives(
    topic: str, count: int, verse_ids: Sequence[int], taken: Collection[int], judged: Collection[int],
    groups: Mapping[int, int], exclude_window: int,
) -> list[int]:
    """``count`` verses not in ``taken`` that pass the exclusion rule, in an order seeded by ``topic``."""
    if count <= 0:
        return []
    order = list(verse_ids)
    random.Random(zlib.crc32(topic.encode("utf-8"))).shuffle(order)
    taken = set(taken)
    chosen = []
    for verse_id in order:
        if len(chosen) == count:
            break
        if verse_id not in taken and not is_excluded(verse_id, judged, groups, exclude_window):
            chosen.append(verse_id)
    return chosen


__all__ = ["NegativeRule", "is_excluded", "mine_negatives"]
