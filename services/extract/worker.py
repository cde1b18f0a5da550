"""The extract stage: clean text in, `ArticleExtracted` (entities, dateline, quotes,
keywords, summary, language, story and duplicate) out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from faststream import FastStream
from threadpoolctl import threadpool_limits

from services.extract.analysis import analyse
from services.extract.entities import load_model
from services.extract.linking import ArticleLinker, story_day
from shared.schemas import ArticleCleaned, ArticleExtracted
from shared.settings import Settings
from shared.status import ArticleStatus
from shared.streams import EXTRACT as STAGE
from shared.worker import BaseStageHandler, Outcome, StageContext, StageRunner

if TYPE_CHECKING:
    from spacy.language import Language


class ExtractHandler(BaseStageHandler[ArticleCleaned]):
    event_type = ArticleCleaned
    done = ArticleStatus.EXTRACTED

    def __init__(self) -> None:
        self._nlp: Language | None = None
        self._linker: ArticleLinker | None = None

    def read_linger_ms(self, settings: Settings) -> int:
        """Analysing one article takes about 80 ms against a millisecond or two for a read:
        the stage reads again as soon as it is done, where lingering would idle the
        pipeline's slowest stage while articles wait."""
        return 0

    async def start(self, ctx: StageContext) -> None:
        # OpenBLAS starts a thread per core by default; beside the other stages' processes
        # they mostly spin (about a quarter more CPU per article, benchmarks/extract.py).
        threadpool_limits(limits=ctx.settings.extract_math_threads, user_api="blas")
        self._nlp = await asyncio.to_thread(load_model)
        self._linker = ArticleLinker(ctx.redis, ctx.settings)

    async def handle(self, event: ArticleCleaned, ctx: StageContext) -> Outcome:
        if self._linker is None:
            raise RuntimeError("extract stage is not started")
        content = event.content
        found = await asyncio.to_thread(
            analyse, content.title, content.text, content.published, content.language, self._nlp
        )
        now = datetime.now(UTC)
        linked = await self._linker.link(
            event.article_id, found, story_day(content.published, found, now.date())
        )
        extracted = ArticleExtracted(
            article_id=event.article_id,
            url=event.url,
            content=content,
            entities=linked.entities,
            dateline=found.dateline,
            quotes=found.quotes,
            keywords=found.keywords,
            summary=found.summary,
            language=found.language,
            story_id=linked.story_id,
            duplicate_of=linked.duplicate_of,
            extracted_at=now,
        )
        # On the status and the span, so a trace shows which story and copy an article is.
        return Outcome(
            extracted,
            {
                "entity_count": len(linked.entities),
                "story_id": linked.story_id,
                "duplicate_of": linked.duplicate_of,
            },
        )


def create_handler(settings: Settings) -> ExtractHandler:
    return ExtractHandler()


def create_app(settings: Settings) -> FastStream:
    """The stage as a FastStream app, e.g. for `faststream run --factory`."""
    return StageRunner(STAGE, settings, create_handler(settings)).app()
