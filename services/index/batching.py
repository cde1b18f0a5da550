"""Write articles that arrive together in one transaction.

Handlers run concurrently; each hands its article to the batcher and waits for its
revision. The first waiter starts a flush, which writes once the articles of one read have
all joined (`shared.coalesce.settle`) or the batch is full.
"""

from __future__ import annotations

import asyncio

import structlog

from shared.coalesce import settle
from shared.schemas import ArticleExtracted
from shared.search import SearchIndex

log = structlog.get_logger("newsflow.index")


class BatchWriter:
    def __init__(self, index: SearchIndex, max_batch: int) -> None:
        self._index = index
        self._max_batch = max_batch
        self._pending: list[tuple[ArticleExtracted, asyncio.Future[int]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.batches = 0
        self.largest_batch = 0

    async def upsert(self, article: ArticleExtracted) -> int:
        """Store `article` (batched with whatever arrives alongside); returns its revision."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((article, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while True:
            await settle(self._pending, self._max_batch)
            if not self._pending:
                return
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            articles = [article for article, _ in batch]
            try:
                revisions = self._index.upsert_many_now(articles)
                if revisions is None:
                    revisions = await asyncio.to_thread(self._index.upsert_many, articles)
            except Exception as exc:  # noqa: BLE001 - one bad article must not fail the rest
                log.warning(
                    "batch write failed; writing one by one", size=len(batch), error=str(exc)
                )
                await self._one_by_one(batch)
                continue
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(batch))
            log.debug("batch written", size=len(batch))
            for (_, future), revision in zip(batch, revisions, strict=True):
                if not future.done():
                    future.set_result(revision)

    async def _one_by_one(self, batch: list[tuple[ArticleExtracted, asyncio.Future[int]]]) -> None:
        for article, future in batch:
            try:
                revision = await asyncio.to_thread(self._index.upsert, article)
            except Exception as exc:  # noqa: BLE001 - handed to the waiting handler
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(revision)
