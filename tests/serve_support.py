"""Shared by the ``test_serve*`` modules: a ten-verse searcher and a real server in a thread."""

from __future__ import annotations

import contextlib
import threading
import time

from tests.test_retrieval_support import kjv_corpus, web_corpus
from versebert.server.process import free_port


def tiny_searcher():
    """BM25 over the ten WEB and KJV test verses (Ezekiel 36:26 "I will also give you a new heart...")."""
    from versebert.retrieval import SearchIndex, VerseSearcher

    return VerseSearcher(SearchIndex.build([web_corpus(), kjv_corpus()], show_progress=False))


@contextlib.contextmanager
def serving(app, timeout: float = 30):
    """Serve ``app`` with uvicorn on 127.0.0.1 in a thread; yields the base URL, stops on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
