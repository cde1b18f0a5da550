"""The extract stage: clean text in, entities (`ArticleExtracted`) out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from faststream import FastStream

from services.extract.entities import load_model, recognise_entities
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

    async def start(self, ctx: StageContext) -> None:
        self._nlp = await asyncio.to_thread(load_model)

    async def handle(self, event: ArticleCleaned, ctx: StageContext) -> Outcome:
        entities = await asyncio.to_thread(recognise_entities, event.content.text, self._nlp)
        extracted = ArticleExtracted(
            article_id=event.article_id,
            url=event.url,
            content=event.content,
            entities=entities,
            extracted_at=datetime.now(UTC),
        )
        return Outcome(extracted, {"entity_count": len(entities)})


def create_handler(settings: Settings) -> ExtractHandler:
    return ExtractHandler()


def create_app(settings: Settings) -> FastStream:
    """The stage as a FastStream app, e.g. for `faststream run --factory`."""
    return StageRunner(STAGE, settings, create_handler(settings)).app()
