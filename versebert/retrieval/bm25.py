"""Lexical retrieval with ``bm25s`` (the only module that imports it).

Texts pass through one :class:`Analyzer` on both sides: lower-case, split with
``r"(?u)\\b\\w+\\b"`` (bm25s' default pattern drops one-character tokens, and with them the "1" of
"1 John"), modernize archaic forms (:mod:`.archaic`), drop stop words, Snowball-stem. Scores come
from bm25s; selection is ours (:func:`.topk.top_k`): exact, ties in corpus order, zero scores
dropped (a zero means no query word occurs in the verse, and bm25s would otherwise return ``k``
arbitrary verses for a query of unknown words), and ``k`` is never larger than the corpus.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError, require
from .archaic import normalize_archaic
from .topk import top_k

TOKEN_PATTERN = re.compile(r"(?u)\b\w+\b")
STOPWORD_LISTS = ("en", "en_plus", "none")
METHODS = ("robertson", "lucene", "atire", "bm25l", "bm25+")
CONFIG_FILE = "versebert_bm25.json"
IDS_FILE = "verse_ids.npy"


@dataclass(frozen=True)
class BM25Config:
    """Scoring and analysis settings; saved with an index, since queries must be analysed alike.

    ``stopwords``: ``"en"`` is bm25s' (Lucene's) 33 English stop words, ``"en_plus"`` its longer
    list with pronouns, ``"none"`` keeps every word. ``stemmer``: a PyStemmer language or ``None``.
    """

    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    stopwords: str = "en"
    stemmer: str | None = "english"
    normalize_archaic: bool = True

    def __post_init__(self) -> None:
        if not self.k1 >= 0:
            raise ValueError(f"BM25Config.k1 must be >= 0, got {self.k1!r}")
        if not 0 <= self.b <= 1:
            raise ValueError(f"BM25Config.b must be in [0, 1], got {self.b!r}")
        if self.method not in METHODS:
            raise ValueError(f"BM25Config.method must be one of {METHODS}, got {self.method!r}")
        if self.stopwords not in STOPWORD_LISTS:
            raise ValueError(f"BM25Config.stopwords must be one of {STOPWORD_LISTS}, got {self.stopwords!r}")


def _stopword_set(name: str) -> frozenset[str]:
    if name == "none":
        return frozenset()
    stopwords = require("bm25s.stopwords", "retrieval")
    return frozenset(stopwords.STOPWORDS_EN if name == "en" else stopwords.STOPWORDS_EN_PLUS)


class Analyzer:
    """Text → index terms, identical for verses and queries."""

    def __init__(self, config: BM25Config) -> None:
        self.config = config
        self._stopwords = _stopword_set(config.stopwords)
        self._stem = None
        if config.stemmer:
            stemmer_module = require("Stemmer", "retrieval")
            try:
                self._stem = stemmer_module.Stemmer(config.stemmer).stemWords
            except KeyError:
                raise ValueError(f"BM25Config.stemmer: PyStemmer has no {config.stemmer!r} stemmer") from None

    def __call__(self, text: str) -> list[str]:
        words = TOKEN_PATTERN.findall(text.lower())
        if self.config.normalize_archaic:
            words = normalize_archaic(words)
        words = [word for word in words if word not in self._stopwords]
        return self._stem(words) if self._stem else words


class BM25Index:
    """A bm25s index over verses, searched by query text; ``verse_ids[i]`` is document ``i``."""

    def __init__(self, verse_ids: Sequence[int], model, config: BM25Config) -> None:
        self.verse_ids = np.asarray(verse_ids, dtype=np.int64)
        self.model = model
        self.config = config
        self.analyzer = Analyzer(config)

    @classmethod
    def build(
        cls, verse_ids: Sequence[int], texts: Sequence[str], config: BM25Config | None = None, *,
        show_progress: bool = False,
    ) -> BM25Index:
        if len(verse_ids) != len(texts) or not texts:
            raise ValueError(f"need one text per verse id and at least one verse, got {len(verse_ids)} ids "
                             f"and {len(texts)} texts")
        bm25s = require("bm25s", "retrieval")
        config = config or BM25Config()
        analyzer = Analyzer(config)
        tokens = [analyzer(text) for text in texts]
        model = bm25s.BM25(k1=config.k1, b=config.b, method=config.method)
        model.index(tokens, show_progress=show_progress)
        return cls(verse_ids, model, config)

    def __len__(self) -> int:
        return len(self.verse_ids)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every verse for ``query`` (zeros if no query term is in the vocabulary)."""
        token_ids = self.model.get_tokens_ids(self.analyzer(query))
        if not token_ids:
            return np.zeros(len(self), dtype=np.float32)
        return self.model.get_scores_from_ids(token_ids)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` ``(verse_id, score)`` best first, only verses sharing a term with the query."""
        scores = self.scores(query)
        return [(int(self.verse_ids[i]), float(scores[i])) for i in top_k(scores, k, positive_only=True)]

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        return [self.search(query, k) for query in queries]

    def save(self, directory: str | Path) -> None:
        """bm25s' own save format (``.npy`` arrays without pickle, JSON vocabulary) plus our config."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(str(directory), show_progress=False)
        np.save(directory / IDS_FILE, self.verse_ids, allow_pickle=False)
        (directory / CONFIG_FILE).write_text(json.dumps(dataclasses.asdict(self.config), indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> BM25Index:
        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file():
            raise UserError(f"no BM25 index in {directory} (missing {CONFIG_FILE})")
        bm25s = require("bm25s", "retrieval")
        config = BM25Config(**json.loads((directory / CONFIG_FILE).read_text()))
        model = bm25s.BM25.load(str(directory), load_corpus=False, allow_pickle=False, show_progress=False)
        verse_ids = np.load(directory / IDS_FILE, allow_pickle=False)
        if model.scores["num_docs"] != len(verse_ids):
            raise UserError(f"BM25 index in {directory} is inconsistent: {model.scores['num_docs']} documents "
                            f"for {len(verse_ids)} verse ids")
        return cls(verse_ids, model, config)
