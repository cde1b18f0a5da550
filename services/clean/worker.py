"""The clean stage: stored HTML in, main text and metadata (`ArticleCleaned`) out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from faststream import FastStream

from services.clean.extraction import extract_article
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
        self._settings = settings

    async def handle(self, event: PageFetched, ctx: StageContext) -> Outcome:
        html = await load_html(ctx.redis, event.html_key)
        article = await asyncio.to_thread(
            extract_article, html, event.final_url, min_chars=self._settings.clean_min_chars
        )
        cleaned = ArticleCleaned(
            article_id=event.article_id,
            url=event.url,
            content=article.content(),
            cleaned_at=datetime.now(UTC),
        )
        return Outcome(cleaned, {"title": article.title, "text_chars": len(article.text)})


def create_handler(settings: Settings) -> CleanHandler:
    return CleanHandler(settings)


def create_app(settings: Settings) -> FastStream:
    """The stage as a FastStream app, e.g. for `faststream run --factory`."""
    return StageRunner(STAGE, settings, create_handler(settings)).app()
