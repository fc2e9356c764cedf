"""``versebert serve``: the search page and JSON API over HTTP.

Searches what ``versebert search`` would (the same ``--index``, ``--model``, ``--translation`` and
``--display``): BM25 at once, hybrid with ``--model`` or an index built with one. The searcher is
built before the port opens, so the first request is answered at full speed. Endpoints:
``/`` (search page), ``/api/search?q=...&k=10&translation=WEB``, ``/api/verse/{reference}``,
``/healthz``, ``/openapi.json``. Stop with Ctrl-C or SIGTERM (in-flight requests finish first).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

from .search import add_translation_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a search page and a JSON search API over HTTP",
        description=__doc__.replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--index", type=Path, help="prebuilt index directory from `versebert index build`")
    parser.add_argument("--model", type=Path, help="model directory for hybrid search (SentenceTransformer-loadable)")
    add_translation_argument(parser)
    parser.add_argument("--display", metavar="CODE", help="translation whose text is shown (default WEB if searched)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 exposes it to the network)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn's log level (default info: one line per request)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError, require

    require("fastapi", "serve")
    uvicorn = require("uvicorn", "serve")
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be from 1 to 65535, got {args.port}")
    check_port_free(args.host, args.port)  # before the minutes an embedding can take
    from ..server.app import create_app
    from .search import build_searcher

    app = create_app(build_searcher(args))
    print(f"serving VerseBERT search on http://{args.host}:{args.port}/ (Ctrl-C to stop)", file=sys.stderr)
    with stop_on_sigterm():
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


@contextlib.contextmanager
def stop_on_sigterm():
    """Make SIGTERM, a service manager's normal "stop", end with exit status 0.

    uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the handler that was
    there before it; with the default handler the process would die of the signal (status -15)
    after a clean stop. Here that handler only notes it, and the command returns normally.
    """
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_port_free(host: str, port: int) -> None:
    """A :class:`UserError` now if ``host:port`` cannot be listened on, rather than after loading."""
    from ..errors import UserError

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise UserError(f"cannot listen on {host}:{port} ({reason}); "
                        f"pick another --port or --host") from None
