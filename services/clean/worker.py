"""The clean stage: stored HTML in, main text and metadata (`ArticleCleaned`) out."""

from __future__ import annotations

from datetime import UTC, datetime

from faststream import FastStream

from services.clean.pool import ExtractionLimits, ExtractionPool
from shared.pages import load_html
from shared.schemas import ArticleCleaned, PageFetched
from shared.settings import Settings
from shared.status import ArticleStatus
from shared.streams import CLEAN as STAGE
from shared.worker import BaseStageHandler, Outcome, StageContext, StageRunner


class CleanHandler(BaseStageHandler[PageFetched]):
    event_type = PageFetched
    done = ArticleStatus.CLEANED

    def __init__(self, settings: Settings) -> None:
        self._pool = ExtractionPool(
            limits_from(settings),
            timeout=settings.clean_timeout_seconds,
            memory_mb=settings.clean_memory_mb,
        )

    async def start(self, ctx: StageContext) -> None:
        await self._pool.start()

    async def stop(self) -> None:
        await self._pool.close()

    async def handle(self, event: PageFetched, ctx: StageContext) -> Outcome:
        html = await load_html(ctx.redis, event.html_key)
        article = await self._pool.extract(html, event.final_url)
        cleaned = ArticleCleaned(
            article_id=event.article_id,
            url=event.url,
            content=article.content(),
            cleaned_at=datetime.now(UTC),
        )
        return Outcome(cleaned, {"title": article.title, "text_chars": len(article.text)})


def limits_from(settings: Settings) -> ExtractionLimits:
    return ExtractionLimits(
        min_chars=settings.clean_min_chars,
        max_html_chars=settings.clean_max_html_chars,
        max_depth=settings.clean_max_depth,
    )


def create_handler(settings: Settings) -> CleanHandler:
    return CleanHandler(settings)


def create_app(settings: Settings) -> FastStream:
    """The stage as a FastStream app, e.g. for `faststream run --factory`."""
    return StageRunner(STAGE, settings, create_handler(settings)).app()
