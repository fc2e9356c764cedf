"""Lexical retrieval with ``bm25s`` (the only module that imports it).

bm25s computes the BM25 weight of every (term, verse) pair once, at build time; an index is then a
sparse matrix (one column of weights per term) and a query's scores are the sum of its terms'
columns, which :class:`BM25Index` computes with numpy. So loading and querying an index never imports
bm25s, whose import alone (numba, scipy) costs 1.5 s: more than a whole command-line search may take.

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
VOCAB_FILE = "vocab.json"
MATRIX_FILES = ("data", "indices", "indptr")  # the CSC weight matrix, saved as <name>.npy
NONOCCURRENCE_FILE = "nonoccurrence.npy"  # bm25l / bm25+: a term's score in verses without it


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

    def __init__(self, config: BM25Config, stopwords: frozenset[str] | None = None) -> None:
        """``stopwords`` default to ``config.stopwords``' list from bm25s; a saved index passes the
        list it was built with, so loading it does not import bm25s."""
        self.config = config
        self._stopwords = _stopword_set(config.stopwords) if stopwords is None else frozenset(stopwords)
        self._stem = None
        if config.stemmer:
            stemmer_module = require("Stemmer", "retrieval")
            try:
                self._stem = stemmer_module.Stemmer(config.stemmer).stemWords
            except KeyError:
                raise ValueError(f"BM25Config.stemmer: PyStemmer has no {config.stemmer!r} stemmer") from None

    @property
    def stopwords(self) -> frozenset[str]:
        return self._stopwords

    def __call__(self, text: str) -> list[str]:
        words = TOKEN_PATTERN.findall(text.lower())
        if self.config.normalize_archaic:
            words = normalize_archaic(words)
        words = [word for word in words if word not in self._stopwords]
        return self._stem(words) if self._stem else words


class BM25Index:
    """BM25 over verses (or any documents with integer ids), searched by query text.

    ``verse_ids[i]`` is document ``i``; ``data``/``indices``/``indptr`` are bm25s' CSC matrix of
    weights (column ``t`` holds term ``t``'s weight in each document containing it), ``vocab`` maps an
    analysed term to its column.
    """

    def __init__(
        self, verse_ids: Sequence[int], matrix: tuple[np.ndarray, np.ndarray, np.ndarray], vocab: dict[str, int],
        config: BM25Config, *, nonoccurrence: np.ndarray | None = None, stopwords: frozenset[str] | None = None,
    ) -> None:
        self.verse_ids = np.asarray(verse_ids, dtype=np.int64)
        self.data, self.indices, self.indptr = matrix
        self.vocab = vocab
        self.config = config
        self.nonoccurrence = nonoccurrence
        self.analyzer = Analyzer(config, stopwords)
        if len(self.indptr) != len(vocab) + 1:
            raise ValueError(f"BM25 matrix has {len(self.indptr) - 1} term columns for {len(vocab)} terms")

    @classmethod
    def build(
        cls, verse_ids: Sequence[int], texts: Sequence[str], config: BM25Config | None = None, *,
        show_progress: bool = False,
    ) -> BM25Index:
        config = config or BM25Config()
        analyzer = Analyzer(config)
        return cls.build_from_tokens(verse_ids, [analyzer(text) for text in texts], config,
                                     show_progress=show_progress)

    @classmethod
    def build_from_tokens(
        cls, verse_ids: Sequence[int], tokens: Sequence[list[str]], config: BM25Config, *,
        show_progress: bool = False,
    ) -> BM25Index:
        """Index documents already analysed with ``Analyzer(config)`` (joined verse documents reuse
        each verse's terms instead of analysing the same text once per document it joins)."""
        if len(verse_ids) != len(tokens) or not tokens:
            raise ValueError(f"need one text per verse id and at least one verse, got {len(verse_ids)} ids "
                             f"and {len(tokens)} texts")
        bm25s = require("bm25s", "retrieval")
        model = bm25s.BM25(k1=config.k1, b=config.b, method=config.method)
        model.index(list(tokens), show_progress=show_progress)
        scores = model.scores
        if scores["num_docs"] != len(verse_ids):
            raise ValueError(f"bm25s indexed {scores['num_docs']} documents for {len(verse_ids)} verse ids")
        columns = len(scores["indptr"]) - 1
        # bm25s adds an empty-string term without a column (its placeholder for unknown words).
        vocab = {term: column for term, column in model.vocab_dict.items() if column < columns}
        return cls(
            verse_ids, (scores["data"], scores["indices"], scores["indptr"]), vocab, config,
            nonoccurrence=model.nonoccurrence_array, stopwords=Analyzer(config).stopwords,
        )

    def __len__(self) -> int:
        return len(self.verse_ids)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every verse for ``query`` (zeros if no query term is in the vocabulary).

        A term repeated in the query counts each time, as in bm25s' own scoring.
        """
        token_ids = [self.vocab[token] for token in self.analyzer(query) if token in self.vocab]
        scores = np.zeros(len(self), dtype=np.float32)
        for token_id in token_ids:
            start, end = self.indptr[token_id], self.indptr[token_id + 1]
            scores[self.indices[start:end]] += self.data[start:end]  # a column holds each document once
        if token_ids and self.nonoccurrence is not None:
            scores += self.nonoccurrence[token_ids].sum()
        return scores

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` ``(verse_id, score)`` best first, only verses sharing a term with the query."""
        scores = self.scores(query)
        return [(int(self.verse_ids[i]), float(scores[i])) for i in top_k(scores, k, positive_only=True)]

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        return [self.search(query, k) for query in queries]

    def save(self, directory: str | Path) -> None:
        """Plain ``.npy`` arrays (no pickle), the vocabulary and our config with its stop words."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, array in zip(MATRIX_FILES, (self.data, self.indices, self.indptr), strict=True):
            np.save(directory / f"{name}.npy", array, allow_pickle=False)
        if self.nonoccurrence is not None:
            np.save(directory / NONOCCURRENCE_FILE, self.nonoccurrence, allow_pickle=False)
        np.save(directory / IDS_FILE, self.verse_ids, allow_pickle=False)
        (directory / VOCAB_FILE).write_text(json.dumps(self.vocab, ensure_ascii=False))
        config = dataclasses.asdict(self.config) | {"stopword_list": sorted(self.analyzer.stopwords)}
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> BM25Index:
        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file():
            raise UserError(f"no BM25 index in {directory} (missing {CONFIG_FILE})")
        try:
            settings = json.loads((directory / CONFIG_FILE).read_text())
            stopwords = settings.pop("stopword_list", None)
            config = BM25Config(**settings)
            # Memory-mapped: a query reads the columns of its few terms, not the whole matrix.
            matrix = tuple(np.load(directory / f"{name}.npy", allow_pickle=False, mmap_mode="r")
                           for name in MATRIX_FILES)
            nonoccurrence_path = directory / NONOCCURRENCE_FILE
            nonoccurrence = np.load(nonoccurrence_path, allow_pickle=False) if nonoccurrence_path.is_file() else None
            verse_ids = np.load(directory / IDS_FILE, allow_pickle=False)
            vocab = json.loads((directory / VOCAB_FILE).read_text())
        except (OSError, ValueError, TypeError) as error:
            raise UserError(f"BM25 index in {directory} is unreadable ({error}); rebuild it") from None
        data, indices, indptr = matrix
        if len(data) != len(indices) or len(indptr) != len(vocab) + 1 or int(indptr[-1]) != len(data):
            raise UserError(f"BM25 index in {directory} is inconsistent: its matrix does not fit "
                            f"{len(verse_ids)} documents and {len(vocab)} terms; rebuild it")
        return cls(verse_ids, matrix, vocab, config, nonoccurrence=nonoccurrence,
                   stopwords=frozenset(stopwords) if stopwords is not None else None)
