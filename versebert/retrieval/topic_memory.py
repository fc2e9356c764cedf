"""Topic memory: answer a query with the verses judged for the training topics nearest to it.

Someone typing "worried about the future" wants what voters judged for "worry" and "anxiety". The
memory finds a query's nearest topics by BM25 over the topic texts and, with a model, by the cosine
of the model's embeddings of them; each near topic contributes its judged verses, a verse scoring
``sum over near topics of similarity x votes``. Each verse's explanation names the topic that
contributed most to it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .bm25 import BM25Config, BM25Index
from .topic_knowledge import TopicKnowledge


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class TopicMemory:
    """Nearest-topic recall over a :class:`TopicKnowledge`. ``bm25`` indexes the topic texts (document
    ``i`` is topic ``i``); ``embeddings`` (optional) are the model's unit-length topic embeddings."""

    def __init__(self, knowledge: TopicKnowledge, bm25: BM25Index, embeddings: np.ndarray | None = None) -> None:
        if len(bm25) != len(knowledge):
            raise ValueError(f"TopicMemory: BM25 over {len(bm25)} topics for {len(knowledge)} known topics")
        if embeddings is not None and embeddings.shape[0] != len(knowledge):
            raise ValueError(f"TopicMemory: {embeddings.shape[0]} topic embeddings for {len(knowledge)} topics")
        self.knowledge = knowledge
        self.bm25 = bm25
        self.embeddings = embeddings

    @classmethod
    def build(cls, knowledge: TopicKnowledge, config: BM25Config | None = None, encoder=None) -> TopicMemory:
        bm25 = BM25Index.build(range(len(knowledge)), knowledge.topics, config or BM25Config())
        embeddings = encoder.encode(knowledge.topics) if encoder is not None else None
        return cls(knowledge, bm25, embeddings)

    def nearest_bm25(self, query: str, n: int) -> list[tuple[int, float]]:
        """Up to ``n`` ``(topic index, BM25 score)`` sharing a term with the query, nearest first."""
        return self.bm25.search(query, n)

    def nearest_dense(self, query_embedding: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The ``n`` topics of highest cosine with the query embedding (positive cosines only)."""
        from .topk import top_k

        similarities = self.embeddings @ np.asarray(query_embedding, dtype=np.float32)
        return [(int(i), float(similarities[i])) for i in top_k(similarities, n, positive_only=True)]

    def recall(self, nearest: Sequence[tuple[int, float]], k: int) -> tuple[list[tuple[int, float]], dict[int, str]]:
        """Up to ``k`` verses scored by similarity x votes over the ``nearest`` topics, best first, and
        each verse's explanation: its strongest topic, how near it was, the votes it gave the verse."""
        scores: dict[int, float] = {}
        strongest: dict[int, tuple[float, int, int]] = {}  # verse -> (contribution, topic rank, votes)
        for rank, (topic, similarity) in enumerate(nearest, start=1):
            for verse_id, votes in zip(self.knowledge.verses[topic], self.knowledge.votes[topic], strict=True):
                contribution = similarity * votes
                scores[verse_id] = scores.get(verse_id, 0.0) + contribution
                if contribution > strongest.get(verse_id, (0.0,))[0]:
                    strongest[verse_id] = (contribution, rank, votes)
        ranked = sorted(scores.items(), key=lambda item: -item[1])[:k]  # stable: ties keep topic order
        details = {}
        for verse_id, _ in ranked:
            _, rank, votes = strongest[verse_id]
            topic = self.knowledge.topics[nearest[rank - 1][0]]
            details[verse_id] = f"topic memory: {topic!r} ({ordinal(rank)} nearest), {votes} votes"
        return ranked, details
