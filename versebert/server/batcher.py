"""Run searches off the event loop, one batch at a time, batching the queries that wait.

Model inference must not block the event loop (every other request would wait behind it), so
searches run in a worker thread. They run one at a time: a searcher holds a tokenizer and a torch
model, neither promised thread-safe, and on a small CPU two inferences at once only share the same
cores. While one batch runs, new queries queue; the next batch takes them all in one
``search_batch`` call, which embeds its queries in one forward pass: eight queries cost about twice
one (measured with the mini model: 14 ms against 6 ms), so waiting clients are answered together
instead of in a row.

Closed-loop clients otherwise fall into step: the one whose answer came first sends its next query
alone while the others are still reading theirs, and batches alternate between 1 and 7 queries,
each paying a forward pass. So a batch smaller than the last one waits up to ``max_wait`` seconds
(3 ms) for the queries of the clients just answered; a server that gets one query at a time
(last batch 1) never waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import anyio.to_thread

logger = logging.getLogger(__name__)

MAX_BATCH = 32  # bounds one batch's latency; eight clients' queries fit in one
MAX_WAIT = 0.003  # seconds: a client's round trip on this machine, small beside a forward pass


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

    def __init__(self, max_batch: int = MAX_BATCH, max_wait: float = MAX_WAIT) -> None:
        if max_batch < 1:
            raise ValueError(f"SearchBatcher.max_batch must be >= 1, got {max_batch}")
        if max_wait < 0:
            raise ValueError(f"SearchBatcher.max_wait must be >= 0 seconds, got {max_wait}")
        self.max_batch, self.max_wait = max_batch, max_wait
        self._waiting: dict[tuple[int, int], tuple[object, list[tuple[str, asyncio.Future]]]] = {}
        self._runner: asyncio.Task | None = None
        self._arrived: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_size = 1

    async def search(self, searcher, query: str, k: int) -> list:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # an asyncio.Event belongs to one loop; a test client may start several
            self._loop, self._arrived, self._waiting = loop, asyncio.Event(), {}
        future = loop.create_future()
        self._waiting.setdefault((id(searcher), k), (searcher, []))[1].append((query, future))
        self._arrived.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            await self._run_batches()
        except BaseException as error:  # a bug here must fail the waiting requests, not hang them
            for _, waiting in self._waiting.values():
                for _, future in waiting:
                    _settle(future, error=error)
            self._waiting.clear()
            raise

    async def _run_batches(self) -> None:
        while self._waiting:
            key = next(iter(self._waiting))
            await self._fill(key)
            searcher, waiting = self._waiting[key]
            batch, rest = waiting[:self.max_batch], waiting[self.max_batch:]
            if rest:
                self._waiting[key] = (searcher, rest)
            else:
                del self._waiting[key]
            batch = [(query, future) for query, future in batch if not future.done()]  # drop cancelled
            if batch:
                self._last_size = len(batch)
                await self._answer(searcher, key[1], batch)

    async def _fill(self, key: tuple[int, int]) -> None:
        """Wait up to ``max_wait`` for ``key``'s queue to grow back to the last batch's size."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        target = min(self._last_size, self.max_batch)
        while len(self._waiting[key][1]) < target and (remaining := deadline - loop.time()) > 0:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

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
