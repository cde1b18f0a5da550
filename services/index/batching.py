"""Write articles that arrive together in one transaction.

Handlers run concurrently; each hands its article to the writer and waits for its
revision. The articles of one read are written together once they have all joined
(`shared.coalesce.Coalescer`), up to `max_batch` at a time.
"""

from __future__ import annotations

import asyncio

import structlog

from shared.coalesce import Coalescer
from shared.schemas import ArticleExtracted
from shared.search import SearchIndex

log = structlog.get_logger("newsflow.index")


class BatchWriter(Coalescer[ArticleExtracted, int]):
    def __init__(self, index: SearchIndex, max_batch: int) -> None:
        super().__init__(max_batch)
        self._index = index
        self.batches = 0
        self.largest_batch = 0

    async def upsert(self, article: ArticleExtracted) -> int:
        """Store `article` (batched with whatever arrives alongside); returns its revision."""
        return await self._submit(article)

    async def _process(self, items: list[ArticleExtracted]) -> list[int | BaseException]:
        try:
            revisions = self._index.upsert_many_now(items)
            if revisions is None:
                revisions = await asyncio.to_thread(self._index.upsert_many, items)
        except Exception as exc:  # noqa: BLE001 - one bad article must not fail the rest
            log.warning("batch write failed; writing one by one", size=len(items), error=str(exc))
            return await self._one_by_one(items)
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(items))
        log.debug("batch written", size=len(items))
        return list(revisions)

    async def _one_by_one(self, items: list[ArticleExtracted]) -> list[int | BaseException]:
        outcomes: list[int | BaseException] = []
        for article in items:
            try:
                outcomes.append(await asyncio.to_thread(self._index.upsert, article))
            except Exception as exc:  # noqa: BLE001 - handed to the waiting handler
                outcomes.append(exc)
        return outcomes
