"""Does the encoder know two translations of a verse mean the same? A ranking probe on held-out verses.

For each held-out verse, the query is its text in ``source`` (KJV by default) and the candidates are
its text in ``target`` (BBE by default, the translation furthest from the KJV's wording) plus
``num_distractors`` other verses in ``target``. The probe is passed when the verse's own translation
scores above every distractor; accuracy is the share of verses that pass (chance:
``1 / (num_distractors + 1)``).

Distractors decide what the probe measures. ``lexical`` ones (the default) are the ``target`` verses
sharing the most words with the query, weighted by rarity, so word overlap points at them as well as at
the answer; ``same_chapter`` ones share the story, ``random`` ones nothing. Translations of a verse
share its names and numbers, so word overlap still goes far: a randomly initialised tiny VerseBERT
(whose mean-pooled embeddings are a random projection of the bag of words) passes 84% of the KJV → BBE
probe with lexical distractors and 92% with same-chapter ones. Read a model's accuracy against that
floor. Distractors never share the verse's text in either translation (repeated formulas would make
the answer ambiguous).

The held-out verses are chosen by a hash of the verse id, so they do not depend on which translations
are loaded; stage A never trains on them.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

from .config import ProbeConfig
from .pairs import duplicate_verse_groups

_WORD = re.compile(r"[^\W\d_]+")


def is_held_out(verse_id: int, per_mille: int) -> bool:
    """Whether stage A leaves ``verse_id`` out: a stable hash, independent of data and seeds."""
    digest = hashlib.blake2b(f"versebert-probe:{verse_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 1000 < per_mille


def held_out_verse_ids(verse_ids: Collection[int], per_mille: int) -> frozenset[int]:
    return frozenset(verse_id for verse_id in verse_ids if is_held_out(verse_id, per_mille))


@dataclass(frozen=True)
class ProbeSet:
    """``queries[i]`` should rank ``candidates[i][0]`` first among ``candidates[i]``."""

    verse_ids: tuple[int, ...]
    queries: tuple[str, ...]
    candidates: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if not self.queries:
            raise ValueError("ProbeSet is empty: no held-out verse has texts in both translations")
        if len({len(self.verse_ids), len(self.queries), len(self.candidates)}) != 1:
            raise ValueError("ProbeSet fields differ in length")

    @property
    def chance(self) -> float:
        return float(np.mean([1 / len(candidates) for candidates in self.candidates]))


def lexical_neighbours(query: str, target: Mapping[int, str], k: int, *, index=None) -> list[int]:
    """The ``k`` verse ids of ``target`` sharing the most words with ``query``, each shared word
    weighted by its inverse document frequency (words in over a tenth of the verses are ignored)."""
    postings, idf = index or word_index(target)
    scores: Counter[int] = Counter()
    for word in set(_WORD.findall(query.casefold())):
        for verse_id in postings.get(word, ()):
            scores[verse_id] += idf[word]
    return [verse_id for verse_id, _ in scores.most_common(k)]


def word_index(texts: Mapping[int, str]) -> tuple[dict[str, list[int]], dict[str, float]]:
    """Postings (word → verse ids) and IDF of the words of ``texts``, frequent words left out."""
    postings: dict[str, list[int]] = {}
    for verse_id, text in texts.items():
        for word in set(_WORD.findall(text.casefold())):
            postings.setdefault(word, []).append(verse_id)
    limit = max(1, len(texts) // 10)
    postings = {word: ids for word, ids in postings.items() if len(ids) <= limit}
    return postings, {word: math.log(len(texts) / len(ids)) for word, ids in postings.items()}


def build_probe(source: Mapping[int, str], target: Mapping[int, str], config: ProbeConfig) -> ProbeSet:
    """Pick held-out verses present in both translations and their distractors (deterministic)."""
    groups = duplicate_verse_groups({"source": source, "target": target})
    held_out = sorted(held_out_verse_ids(source.keys() & target.keys(), config.held_out_per_mille))
    chapters: dict[int, list[int]] = {}
    for verse_id in sorted(target):
        chapters.setdefault(verse_id // 1000, []).append(verse_id)
    index = word_index(target) if config.distractors == "lexical" else None
    rng = random.Random(config.seed)
    probed = sorted(rng.sample(held_out, min(config.max_verses, len(held_out))))
    verse_ids, queries, candidates = [], [], []
    for verse_id in probed:
        if config.distractors == "lexical":  # a few spare, for the ones sharing the answer's text
            pool = lexical_neighbours(source[verse_id], target, config.num_distractors + 10, index=index)
        else:
            pool = chapters[verse_id // 1000] if config.distractors == "same_chapter" else held_out
        pool = [other for other in pool if groups[other] != groups[verse_id]]
        if len(pool) < config.num_distractors:
            continue  # a chapter too short for a fair probe (e.g. Psalm 117)
        if config.distractors == "lexical":
            distractors = pool[: config.num_distractors]
        else:
            distractors = rng.sample(pool, config.num_distractors)
        verse_ids.append(verse_id)
        queries.append(source[verse_id])
        candidates.append((target[verse_id], *(target[other] for other in distractors)))
    return ProbeSet(tuple(verse_ids), tuple(queries), tuple(candidates))


def probe_passes(query_embeddings: np.ndarray, candidate_embeddings: list[np.ndarray]) -> np.ndarray:
    """Per query: does candidate 0 score strictly above every other candidate (dot product)?"""
    passes = []
    for query, candidates in zip(query_embeddings, candidate_embeddings, strict=True):
        scores = candidates @ query
        passes.append(bool(scores[0] > scores[1:].max()))
    return np.array(passes)


def probe_accuracy(model, probe: ProbeSet, *, batch_size: int = 64, show_progress_bar: bool = False) -> float:
    """Share of probe verses whose own translation outranks every distractor, with ``model``'s
    normalized embeddings (so the dot product is the cosine similarity)."""
    texts = sorted(set(probe.queries).union(*probe.candidates))
    embeddings = model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=show_progress_bar,
    )
    row = {text: index for index, text in enumerate(texts)}
    queries = embeddings[[row[text] for text in probe.queries]]
    candidates = [embeddings[[row[text] for text in group]] for group in probe.candidates]
    return float(probe_passes(queries, candidates).mean())


class ContrastiveProbeEvaluator(BaseEvaluator):
    """The probe as a sentence-transformers evaluator, so the trainer logs it (``{name}_accuracy``)."""

    def __init__(self, probe: ProbeSet, *, name: str = "probe", batch_size: int = 64):
        super().__init__()
        self.probe = probe
        self.name = name
        self.batch_size = batch_size
        self.primary_metric = "accuracy"

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        accuracy = probe_accuracy(model, self.probe, batch_size=self.batch_size, show_progress_bar=True)
        metrics = {"accuracy": accuracy}
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict[str, object]:
        return {"verses": len(self.probe.queries), "chance": round(self.probe.chance, 4)}
