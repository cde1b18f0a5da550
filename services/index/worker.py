"""The index stage: extracted article in, searchable document stored, `ArticleIndexed` out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from faststream import FastStream

from services.index.batching import BatchWriter
from shared.schemas import ArticleExtracted, ArticleIndexed
from shared.search import SearchIndex, open_index
from shared.settings import Settings
from shared.status import ArticleStatus
from shared.streams import INDEX as STAGE
from shared.worker import BaseStageHandler, Outcome, StageContext, StageRunner


class IndexHandler(BaseStageHandler[ArticleExtracted]):
    event_type = ArticleExtracted
    done = ArticleStatus.INDEXED

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.concurrency = settings.index_batch_size
        self._index: SearchIndex | None = None
        self.writer: BatchWriter | None = None

    def read_linger_ms(self, settings: Settings) -> int:
        return settings.index_read_linger_ms

    async def start(self, ctx: StageContext) -> None:
        self._index = await asyncio.to_thread(open_index, self._settings.search_index_url)
        self.writer = BatchWriter(self._index, self._settings.index_batch_size)

    async def stop(self) -> None:
        if self._index is not None:
            self._index.close()

    async def handle(self, event: ArticleExtracted, ctx: StageContext) -> Outcome:
        assert self.writer is not None
        revision = await self.writer.upsert(event)
        indexed = ArticleIndexed(
            article_id=event.article_id,
            url=event.url,
            title=event.content.title,
            published=event.content.published,
            indexed_at=datetime.now(UTC),
        )
        return Outcome(indexed, {"revision": revision})


def create_handler(settings: Settings) -> IndexHandler:
    return IndexHandler(settings)


def create_app(settings: Settings) -> FastStream:
    """The stage as a FastStream app, e.g. for `faststream run --factory`."""
    return StageRunner(STAGE, settings, create_handler(settings)).app()
