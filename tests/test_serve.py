"""``versebert serve`` and its HTTP API: every endpoint, every bad input as a 4xx JSON error with the
command line's message, searches off the event loop one batch at a time, and clean shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from tests.serve_support import free_port, serving, tiny_searcher  # noqa: E402
from versebert.server.answers import search_answer  # noqa: E402
from versebert.server.app import app_from_env, args_from_env, create_app  # noqa: E402
from versebert.server.batcher import SearchBatcher  # noqa: E402
from versebert.server.process import wait_until_healthy  # noqa: E402

EZEKIEL = 26036026


@pytest.fixture(scope="module")
def searcher():
    return tiny_searcher()


@pytest.fixture(scope="module")
def client(searcher):
    return TestClient(create_app(searcher))


def test_search_finds_ezekiel_with_why_it_matched(client):
    response = client.get("/api/search", params={"q": "give you a new heart", "k": 3})
    assert response.status_code == 200
    answer = response.json()
    assert (answer["query"], answer["display"], answer["retrievers"]) == ("give you a new heart", "WEB", ["bm25"])
    assert answer["translations"] == ["WEB", "KJV"]
    first = answer["hits"][0]
    assert (first["verse_id"], first["reference"], first["translation"]) == (EZEKIEL, "Ezekiel 36:26", "WEB")
    assert first["text"].startswith("I will also give you a new heart")
    assert first["score"] > 0
    assert {(match["retriever"], match["translation"]) for match in first["matches"]} == {("bm25", "WEB"),
                                                                                          ("bm25", "KJV")}
    assert len(answer["hits"]) == 3 and [hit["rank"] for hit in answer["hits"]] == [1, 2, 3]


def test_search_answer_is_the_command_lines_json_answer(client, searcher, monkeypatch, capsys):
    from versebert import cli
    from versebert.commands import search

    monkeypatch.setattr(search, "build_searcher", lambda args: searcher)
    assert cli.main(["search", "charity suffereth long", "-k", "2", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    served = client.get("/api/search", params={"q": "charity suffereth long", "k": 2}).json()
    assert served == printed
    shared = search_answer(searcher, "charity suffereth long", searcher.search("charity suffereth long", 2))
    assert served == json.loads(json.dumps(shared))


def test_a_reference_query_puts_the_named_verse_first(client):
    first = client.get("/api/search", params={"q": "John 3:16"}).json()["hits"][0]
    assert (first["reference"], first["score"], first["matches"][0]["retriever"]) == ("John 3:16", None, "reference")


def test_translation_chooses_the_text_shown(client):
    answer = client.get("/api/search", params={"q": "new heart", "k": 1, "translation": "kjv"}).json()
    assert answer["display"] == "KJV"
    assert answer["hits"][0]["text"].startswith("A new heart also will I give you")
    default = client.get("/api/search", params={"q": "new heart", "k": 1}).json()
    assert default["display"] == "WEB"  # the KJV request changed nothing for the others


@pytest.mark.parametrize("path, expected", [
    ("/api/verse/John 3:16", [(43003016, "John 3:16")]),
    ("/api/verse/1%20Cor%2013%3A4-7", [(46013004, "1 Corinthians 13:4"), (46013005, "1 Corinthians 13:5")]),
    ("/api/verse/Ps 23", [(19023001, "Psalms 23:1")]),  # the verses the index has, in order
])
def test_verse_returns_the_named_verses_with_texts(client, path, expected):
    response = client.get(path)
    assert response.status_code == 200, response.text
    verses = response.json()["verses"]
    assert [(verse["verse_id"], verse["reference"]) for verse in verses] == expected
    assert all(verse["text"] and verse["translation"] == "WEB" for verse in verses)


def test_verse_in_another_translation(client):
    verse = client.get("/api/verse/Ezek 36:26", params={"translation": "KJV"}).json()["verses"][0]
    assert (verse["translation"], verse["text"][:11]) == ("KJV", "A new heart")


def test_healthz_says_what_is_served(client):
    assert client.get("/healthz").json() == {"status": "ok", "translations": ["WEB", "KJV"], "display": "WEB",
                                              "retrievers": ["bm25"]}


def test_openapi_describes_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/search", "/api/verse/{reference}", "/healthz"} <= set(paths)
    assert {parameter["name"] for parameter in paths["/api/search"]["get"]["parameters"]} == {"q", "k", "translation"}


@pytest.mark.parametrize("path, params, status, message", [
    ("/api/search", {}, 400, "empty query"),
    ("/api/search", {"q": "   "}, 400, "empty query"),
    ("/api/search", {"q": "x" * 10_000}, 400, "query is 10,000 characters long; the limit is 1,000"),
    ("/api/search", {"q": "heart", "k": "0"}, 400, "-k must be a number of results from 1 to 1,000, got 0"),
    ("/api/search", {"q": "heart", "k": "1001"}, 400, "from 1 to 1,000, got 1001"),
    ("/api/search", {"q": "heart", "k": "ten"}, 400, "from 1 to 1,000, got 'ten'"),
    ("/api/search", {"q": "heart", "translation": "KLINGON"}, 400, "unknown translation 'KLINGON'"),
    ("/api/search", {"q": "heart", "translation": "ASV"}, 400, "ASV is not served here; choose from WEB, KJV"),
    ("/api/search", {"q": "heart", "translation": "WEB,KJV"}, 400, "give one translation to show"),
    ("/api/verse/nothing at all", {}, 404, "no Bible reference found in 'nothing at all'"),
    ("/api/verse/Gen 2:1", {}, 404, "'Gen 2:1' names no verse of the served translations (WEB, KJV)"),
    ("/api/verse/Gen 1 - Rev 22", {}, 400, "names 31,102 verses; the limit is 1,000"),
    ("/api/verse/John 3:16", {"translation": "KLINGON"}, 400, "unknown translation 'KLINGON'"),
    ("/api/nowhere", {}, 404, "Not Found"),
])
def test_bad_input_is_a_json_error_with_the_cli_message(client, path, params, status, message):
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"]
    assert "Traceback" not in response.text


def test_wrong_method_is_a_json_405(client):
    response = client.post("/api/search", params={"q": "heart"})
    assert response.status_code == 405 and response.json() == {"error": "Method Not Allowed"}


class BrokenSearcher:
    """A searcher with a bug: its failure must be logged, never shown to the client."""

    def __init__(self, searcher):
        self.index, self.display, self.retrievers = searcher.index, searcher.display, searcher.retrievers

    def search(self, query, k):
        raise RuntimeError("secret internal detail")


def test_a_bug_is_a_generic_500_and_logged(searcher, caplog):
    client = TestClient(create_app(BrokenSearcher(searcher)), raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="versebert.server.app"):
        response = client.get("/api/search", params={"q": "heart"})
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error; the server log has the details"}
    assert "secret" not in response.text
    assert "secret internal detail" in caplog.text and "GET /api/search" in caplog.text


def test_the_page_is_one_self_contained_search_page(client):
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<form id="search"' in page and 'type="search"' in page and "/api/search?" in page
    for external in ("http://", "https://", "<link", "src=", "@import"):
        assert external not in page
    assert "innerHTML" not in page  # API text goes in as text, never as markup


class RecordingSearcher:
    """Records each batch it is asked; the first one waits for ``release`` (a model mid-inference)."""

    def __init__(self):
        self.batches, self.started, self.release = [], threading.Event(), threading.Event()
        self.running = self.most_running = 0
        self.lock = threading.Lock()

    def search_batch(self, queries, k):
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        self.batches.append(list(queries))
        self.started.set()
        self.release.wait(30)
        with self.lock:
            self.running -= 1
        if "bad" in queries:
            raise ValueError("bad query")
        return [[f"{query}@{k}"] for query in queries]


async def wait_for(event: threading.Event) -> None:
    """Poll without blocking the loop: that this returns at all shows the loop kept running."""
    for _ in range(3000):
        if event.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the search never started")


def test_queries_waiting_on_a_running_search_go_together_in_the_next_batch():
    searcher = RecordingSearcher()

    async def scenario():
        batcher = SearchBatcher()
        first = asyncio.create_task(batcher.search(searcher, "a", 5))
        await wait_for(searcher.started)  # the event loop runs while the search works in its thread
        others = [asyncio.create_task(batcher.search(searcher, query, 5)) for query in "bcd"]
        other_k = asyncio.create_task(batcher.search(searcher, "e", 2))
        await asyncio.sleep(0)
        searcher.release.set()
        return await asyncio.gather(first, *others, other_k)

    assert asyncio.run(scenario()) == [["a@5"], ["b@5"], ["c@5"], ["d@5"], ["e@2"]]
    assert searcher.batches == [["a"], ["b", "c", "d"], ["e"]]
    assert searcher.most_running == 1  # never two searches at once on one searcher


async def three_then_lone_then_company(batcher, searcher):
    """Three queries batched together, then one alone, then two more arriving just after it."""
    blocker = asyncio.create_task(batcher.search(searcher, "x", 1))
    await asyncio.sleep(0)
    await asyncio.gather(blocker, *(batcher.search(searcher, query, 1) for query in "abc"))
    lone = asyncio.create_task(batcher.search(searcher, "d", 1))  # the first client back
    await asyncio.sleep(0)
    return await asyncio.gather(lone, batcher.search(searcher, "e", 1), batcher.search(searcher, "f", 1))


def test_a_lone_query_waits_for_the_clients_just_answered_to_batch_with_them():
    searcher = RecordingSearcher()
    searcher.release.set()
    batcher = SearchBatcher(max_wait=30)  # generous: the test only waits if the batching is wrong
    assert asyncio.run(three_then_lone_then_company(batcher, searcher)) == [["d@1"], ["e@1"], ["f@1"]]
    assert searcher.batches == [["x"], ["a", "b", "c"], ["d", "e", "f"]]


def test_one_batcher_serves_event_loops_one_after_another():
    # TestClient without a `with` block runs each request in a fresh event loop; later loops start
    # after a batch of three, so their lone first query waits for company on its own loop
    searcher, batcher = RecordingSearcher(), SearchBatcher(max_wait=0.001)
    searcher.release.set()
    for _ in range(3):  # the bound is no timing claim: the broken batcher hung here
        answers = asyncio.run(asyncio.wait_for(three_then_lone_then_company(batcher, searcher), 60))
        assert answers == [["d@1"], ["e@1"], ["f@1"]]


def test_a_failing_query_fails_only_its_own_request():
    searcher = RecordingSearcher()
    searcher.release.set()

    async def scenario():
        batcher = SearchBatcher()
        blocker = asyncio.create_task(batcher.search(searcher, "first", 1))
        await asyncio.sleep(0)
        tasks = [asyncio.create_task(batcher.search(searcher, query, 1)) for query in ("ok", "bad", "fine")]
        return await asyncio.gather(blocker, *tasks, return_exceptions=True)

    first, ok, bad, fine = asyncio.run(scenario())
    assert (first, ok, fine) == (["first@1"], ["ok@1"], ["fine@1"])
    assert isinstance(bad, ValueError)


def test_concurrent_clients_over_a_real_server_all_get_their_answers(searcher):
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    queries = ["give you a new heart", "Jesus wept", "cheerful giver", "grace through faith"] * 4
    with serving(create_app(searcher)) as url, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda q: httpx.get(f"{url}/api/search", params={"q": q, "k": 1}, timeout=30).json(),
                                queries))
    assert [answer["query"] for answer in answers] == queries
    firsts = {answer["query"]: answer["hits"][0]["reference"] for answer in answers}
    assert firsts == {"give you a new heart": "Ezekiel 36:26", "Jesus wept": "John 11:35",
                      "cheerful giver": "2 Corinthians 9:7", "grace through faith": "Ephesians 2:8"}


def test_app_from_env_builds_the_searcher_the_variables_describe(monkeypatch, searcher, tmp_path):
    from versebert.commands import search

    seen = []
    monkeypatch.setattr(search, "build_searcher", lambda args: seen.append(args) or searcher)
    environment = {"VERSEBERT_INDEX": str(tmp_path / "index"), "VERSEBERT_MODEL": str(tmp_path / "model"),
                   "VERSEBERT_TRANSLATION": "WEB,KJV", "VERSEBERT_DISPLAY": "KJV"}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    app = app_from_env()
    assert (seen[0].index, seen[0].model, seen[0].translation, seen[0].display) == (
        tmp_path / "index", tmp_path / "model", ["WEB,KJV"], "KJV")
    assert TestClient(app).get("/healthz").json()["translations"] == ["WEB", "KJV"]
    defaults = args_from_env({})
    assert (defaults.index, defaults.model, defaults.translation, defaults.display) == (None, None, None, None)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "versebert.cli", *args], capture_output=True, text=True, timeout=120)


def test_serve_refuses_a_port_in_use_in_one_line():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"versebert serve: error: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "pick another --port or --host"]


def test_serve_refuses_an_unknown_translation_in_one_line():
    result = run_cli("serve", "--translation", "KLINGON", "--port", str(free_port()))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown translation 'KLINGON'" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def search_then_sigterm(command: list[str], port: int, env: dict | None = None) -> subprocess.CompletedProcess:
    """Start a real server over the WEB, search it, send SIGTERM: the process must exit 0 by itself."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(process, url, timeout=300)
        with urllib.request.urlopen(f"{url}/api/search?q=give+you+a+new+heart&k=1", timeout=30) as response:
            assert json.load(response)["hits"][0]["reference"] == "Ezekiel 36:26"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_versebert_serve_answers_then_exits_0_on_sigterm():
    port = free_port()
    result = search_then_sigterm([sys.executable, "-m", "versebert.cli", "serve", "--port", str(port)], port)
    assert result.returncode == 0, result.stderr
    assert f"serving VerseBERT search on http://127.0.0.1:{port}/" in result.stderr
    assert "Traceback" not in result.stderr


def test_uvicorn_factory_from_env_answers_then_exits_0_on_sigterm():
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "versebert.server.app:app_from_env",
               "--host", "127.0.0.1", "--port", str(port)]
    result = search_then_sigterm(command, port, env={"VERSEBERT_TRANSLATION": "WEB"})
    # uvicorn's own command re-raises SIGTERM after its graceful shutdown (so its exit says why it
    # stopped); `versebert serve` turns that into 0
    assert result.returncode in (0, -signal.SIGTERM), result.stderr
    assert "Application shutdown complete" in result.stderr and "Traceback" not in result.stderr


def test_waiting_for_a_server_stops_when_it_dies_or_never_answers():
    from versebert.server.process import ServerNotReady, free_port

    url = f"http://127.0.0.1:{free_port()}"
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait()
    with pytest.raises(ServerNotReady, match="the server exited with 3"):
        wait_until_healthy(dead, url, timeout=30)
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(ServerNotReady, match=r"did not answer /healthz within 1 s"):
            wait_until_healthy(silent, url, timeout=1, poll=0.1)
    finally:
        silent.kill()
        silent.wait()
