"""The HTTP API and search page over one already-built searcher.

``create_app(searcher)`` takes the searcher rather than building it, so tests serve a ten-verse
index and ``versebert serve`` serves whatever ``versebert search`` would search (both build it with
:func:`versebert.commands.search.build_searcher`). ``app_from_env`` is the same for process
managers that import an app factory in each worker (``uvicorn --factory``, gunicorn).

Every error a client can cause is a JSON ``{"error": "..."}`` with a 4xx status and the command
line's own message; a 500 means a bug, is logged with its traceback, and tells the client nothing
about the server's insides.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from ..errors import UserError
from .answers import NotFound, passage_answer, search_answer
from .batcher import SearchBatcher
from .page import PAGE

logger = logging.getLogger(__name__)

ENV_VARIABLES = ("VERSEBERT_INDEX", "VERSEBERT_MODEL", "VERSEBERT_TRANSLATION", "VERSEBERT_DISPLAY")


def create_app(searcher) -> FastAPI:
    """The FastAPI app answering ``/api/search``, ``/api/verse/{reference}``, ``/healthz`` and ``/``."""
    from .. import __version__

    app = FastAPI(title="VerseBERT", version=__version__,
                  description="Hybrid verse search (BM25 + VerseBERT, fused by RRF) over the Bible.")
    displays = DisplaySearchers(searcher)
    batcher = SearchBatcher()
    _add_error_handlers(app)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return PAGE

    @app.get("/healthz")
    def healthz() -> dict:
        """Liveness and what is served: the searcher is built before the server accepts requests."""
        return {"status": "ok", "translations": list(searcher.index.translations),
                "display": searcher.display.translation, "retrievers": list(searcher.retrievers)}

    @app.get("/api/search")
    async def search(q: str = "", k: str = "10", translation: str | None = None) -> dict:
        """Verses for ``q`` (words or a reference), best first, each with why it matched.
        ``translation``: whose text is shown, one of the served translations."""
        from ..retrieval.searcher import validate_k, validate_query

        query = validate_query(q)
        count = validate_k(_integer(k))
        chosen = displays.get(translation)
        return search_answer(chosen, query, await batcher.search(chosen, query, count))

    @app.get("/api/verse/{reference:path}")
    def verse(reference: str, translation: str | None = None) -> dict:
        """The verses a reference names ("John 3:16", "1 Cor 13:4-7"), with their texts."""
        from ..retrieval.searcher import validate_query

        return passage_answer(displays.get(translation), validate_query(reference))

    return app


class DisplaySearchers:
    """One searcher per translation a client may ask to read, all sharing the served index.

    Only translations already loaded (indexed, or the display one) are offered: loading another
    Bible inside a request would take seconds and memory the operator never agreed to.
    """

    def __init__(self, searcher) -> None:
        self.default = searcher
        self._searchers = {searcher.display.translation: searcher}

    @property
    def translations(self) -> list[str]:
        return list(dict.fromkeys([self.default.display.translation, *self.default.index.translations]))

    def get(self, translation: str | None):
        if translation is None or not translation.strip():
            return self.default
        from ..commands.search import translation_codes

        codes = translation_codes([translation])  # the CLI's message for an unknown code
        if len(codes) != 1:
            raise UserError(f"give one translation to show, got {', '.join(codes)}")
        code = codes[0]
        if code not in self.translations:
            raise UserError(f"translation {code} is not served here; choose from {', '.join(self.translations)}")
        if code not in self._searchers:
            from ..retrieval import VerseSearcher

            self._searchers[code] = VerseSearcher(self.default.index, display=code,
                                                  retrievers=self.default.retrievers, config=self.default.config)
        return self._searchers[code]


def _integer(text: str) -> int | str:
    """``k`` as a number when it is one; otherwise the text, for validate_k's message to quote."""
    try:
        return int(text)
    except ValueError:
        return text


def _add_error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> JSONResponse:
        return error(404 if isinstance(exc, NotFound) else 400, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in exc.errors())
        return error(422, f"invalid request: {problems}")

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("error answering %s %s", request.method, request.url.path)
        return error(500, "internal server error; the server log has the details")


def args_from_env(environ: os._Environ | dict = os.environ) -> argparse.Namespace:
    """``versebert search``'s searcher arguments from ``VERSEBERT_INDEX``, ``VERSEBERT_MODEL``,
    ``VERSEBERT_TRANSLATION`` (comma-separated) and ``VERSEBERT_DISPLAY``; unset means the default."""
    def path(name: str) -> Path | None:
        return Path(environ[name]) if environ.get(name) else None

    translation = environ.get("VERSEBERT_TRANSLATION")
    return argparse.Namespace(index=path("VERSEBERT_INDEX"), model=path("VERSEBERT_MODEL"),
                              translation=[translation] if translation else None,
                              display=environ.get("VERSEBERT_DISPLAY") or None)


def app_from_env() -> FastAPI:
    """An app factory for ``uvicorn --factory versebert.server.app:app_from_env`` and gunicorn's
    uvicorn workers: each worker process builds its own searcher from the environment."""
    from ..commands.search import build_searcher

    return create_app(build_searcher(args_from_env()))
