"""Run searches off the event loop, one batch at a time, batching the queries that wait.

Model inference must not block the event loop (every other request would wait behind it), so
searches run in a worker thread. They run one at a time: a searcher holds a tokenizer and a torch
model, neither promised thread-safe, and on a small CPU two inferences at once only share the same
cores. While one batch runs, new queries queue; the next batch takes them all in one
``search_batch`` call, which embeds its queries in one forward pass: eight queries cost about twice
one (measured with the mini model: 14 ms against 6 ms), so waiting clients are answered together
instead of in a row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import anyio.to_thread

logger = logging.getLogger(__name__)

MAX_BATCH = 32  # bounds one batch's latency; eight clients' queries fit in one


def search_all(searcher, queries: Sequence[str], k: int) -> list:
    """Every query's hits: in one ``search_batch`` call if the searcher has one, else one by one."""
    batch = getattr(searcher, "search_batch", None)
    if batch is not None:
        return batch(list(queries), k)
    return [searcher.search(query, k) for query in queries]


class SearchBatcher:
    """``await batcher.search(searcher, query, k)``: the hits, searched in a worker thread with the
    queries that arrived meanwhile for the same searcher and ``k``.

    A failing batch is retried query by query, so one query's error reaches only its own caller.
    """

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError(f"SearchBatcher.max_batch must be >= 1, got {max_batch}")
        self.max_batch = max_batch
        self._waiting: dict[tuple[int, int], tuple[object, list[tuple[str, asyncio.Future]]]] = {}
        self._runner: asyncio.Task | None = None

    async def search(self, searcher, query: str, k: int) -> list:
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault((id(searcher), k), (searcher, []))[1].append((query, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._waiting:
            key = next(iter(self._waiting))
            searcher, waiting = self._waiting[key]
            batch, rest = waiting[:self.max_batch], waiting[self.max_batch:]
            if rest:
                self._waiting[key] = (searcher, rest)
            else:
                del self._waiting[key]
            batch = [(query, future) for query, future in batch if not future.done()]  # drop cancelled
            if batch:
                await self._answer(searcher, key[1], batch)

    async def _answer(self, searcher, k: int, batch: list[tuple[str, asyncio.Future]]) -> None:
        try:
            results = await anyio.to_thread.run_sync(search_all, searcher, [query for query, _ in batch], k)
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
                return
            for item in batch:
                await self._answer(searcher, k, [item])
            return
        for (_, future), hits in zip(batch, results, strict=True):
            _settle(future, hits)


def _settle(future: asyncio.Future, hits=None, error: BaseException | None = None) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(hits)
