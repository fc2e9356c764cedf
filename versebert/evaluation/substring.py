"""The "ILIKE" baseline: what a plain SQL search box does with a topic.

Exactly ``WHERE text ILIKE '%' || topic || '%' ORDER BY verse_id``: a verse matches when the whole
topic, case-folded and with runs of whitespace collapsed to one space, occurs anywhere in the
verse text treated the same way (no word boundaries, no stemming: "love" matches "beloved").
Matches come in canonical (verse id) order, the order a table scan returns them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WHITESPACE = re.compile(r"\s+")


def _fold(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip().casefold()


class SubstringSearcher:
    """Case-insensitive whole-topic substring match over verse texts, in verse id order."""

    def __init__(self, verse_ids: Sequence[int], texts: Sequence[str]) -> None:
        ordered = sorted(zip(verse_ids, texts, strict=True))
        self.verse_ids = [verse_id for verse_id, _ in ordered]
        self.folded = [_fold(text) for _, text in ordered]

    def search(self, query: str, k: int) -> list[int]:
        needle = _fold(query)
        if not needle:
            return []
        matches = []
        for verse_id, text in zip(self.verse_ids, self.folded, strict=True):
            if needle in text:
                matches.append(verse_id)
                if len(matches) == k:
                    break
        return matches
