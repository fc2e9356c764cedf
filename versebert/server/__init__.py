"""``versebert serve``: verse search over HTTP (a JSON API and one search page).

- :mod:`.answers`: the JSON answers, shared with ``versebert search --json`` (no web imports);
- :mod:`.app`: the FastAPI application (``create_app(searcher)``) and ``app_from_env`` for
  uvicorn/gunicorn workers;
- :mod:`.page`: the self-contained search page served at ``/``.

FastAPI and uvicorn come with the ``serve`` extra; only :mod:`.app` imports them.
"""
