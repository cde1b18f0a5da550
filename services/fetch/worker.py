"""The fetch stage: URL in, page HTML stored (claim check), `PageFetched` out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from faststream import FastStream

from services.fetch.fetcher import build_client, fetch_page
from services.fetch.guard import AddressGuard
from shared.errors import PermanentError
from shared.pages import store_html
from shared.schemas import PageFetched, UrlSubmitted
from shared.settings import Settings
from shared.status import ArticleStatus
from shared.streams import FETCH as STAGE
from shared.telemetry import current_trace_id
from shared.urls import article_id, canonical_url
from shared.worker import BaseStageHandler, Outcome, StageContext, StageRunner

log = structlog.get_logger("newsflow.fetch")


def parse_ingest_entry(body: Any) -> UrlSubmitted:
    """Accept the API's `UrlSubmitted` or a plain `XADD newsflow:ingest * url <URL>` entry."""
    if not isinstance(body, dict):
        raise PermanentError("ingest entry must have fields, e.g. `url <URL>`")
    if "article_id" in body:
        return UrlSubmitted.model_validate(body)
    url = body.get("url")
    if not isinstance(url, str):
        raise PermanentError("plain ingest entry needs a `url` field")
    canonical = canonical_url(url)
    force = str(body.get("force", "")).lower() in {"1", "true", "yes"}
    return UrlSubmitted(
        article_id=article_id(canonical),
        url=canonical,
        force=force,
        submitted_at=datetime.now(UTC),
    )


class FetchHandler(BaseStageHandler[UrlSubmitted]):
    event_type = UrlSubmitted
    done = ArticleStatus.FETCHED

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.concurrency = settings.fetch_concurrency
        self._guard = AddressGuard(settings.fetch_allow)
        self._client: httpx.AsyncClient | None = None

    def parse(self, body: Any) -> UrlSubmitted:
        return parse_ingest_entry(body)

    async def start(self, ctx: StageContext) -> None:
        self._client = build_client(self._settings)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def handle(self, event: UrlSubmitted, ctx: StageContext) -> Outcome | None:
        assert self._client is not None
        # A plain XADD entry has no status yet; an API entry has one already.
        status = await ctx.status.ensure(event.article_id, event.url, trace_id=current_trace_id())
        if status != ArticleStatus.QUEUED and not event.force:
            log.info("already known", status=status)
            return None
        page = await fetch_page(event.url, self._client, self._guard, self._settings)
        key, digest = await store_html(
            ctx.redis, page.html, ttl_seconds=self._settings.html_ttl_seconds
        )
        fetched = PageFetched(
            article_id=event.article_id,
            url=event.url,
            final_url=page.final_url,
            status_code=page.status_code,
            content_type=page.content_type,
            html_key=key,
            content_hash=digest,
            size_bytes=page.size_bytes,
            fetched_at=datetime.now(UTC),
        )
        return Outcome(fetched, {"content_hash": digest, "size_bytes": page.size_bytes})


def create_handler(settings: Settings) -> FetchHandler:
    return FetchHandler(settings)


def create_app(settings: Settings) -> FastStream:
    """The stage as a FastStream app, e.g. for `faststream run --factory`."""
    return StageRunner(STAGE, settings, create_handler(settings)).app()
