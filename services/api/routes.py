"""The API's routes. Their dependencies live on `app.state.newsflow` (see `create_app`)."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from faststream.redis import RedisBroker
from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from services.api.views import article_view
from shared.errors import PermanentError
from shared.schemas import UrlSubmitted
from shared.search import MAX_LIMIT, QueryError, SearchIndex
from shared.status import ArticleStatus, StatusStore
from shared.streams import INGEST
from shared.telemetry import ATTR_ARTICLE_ID, ATTR_URL, current_trace_id
from shared.urls import article_id, canonical_url

log = structlog.get_logger("newsflow.api")
MAX_URLS_PER_REQUEST = 1000


@dataclass(frozen=True, slots=True)
class ApiState:
    redis: Redis
    status: StatusStore
    broker: RedisBroker
    index: SearchIndex
    tracer: trace.Tracer


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.newsflow
    return state


State = Annotated[ApiState, Depends(api_state)]
router = APIRouter()


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(
        description="http(s) URLs of news articles", max_length=MAX_URLS_PER_REQUEST
    )
    force: bool = Field(default=False, description="Fetch again even if the URL is known")


class SubmittedArticle(BaseModel):
    id: str
    url: str
    status: str


class SubmitResponse(BaseModel):
    articles: list[SubmittedArticle]


class Hit(BaseModel):
    id: str
    url: str
    title: str | None
    snippet: str
    published: str | None
    score: float


class SearchResponse(BaseModel):
    total: int
    hits: list[Hit]


@router.post("/v1/articles", status_code=202, response_model=SubmitResponse)
async def submit_articles(request: SubmitRequest, state: State) -> SubmitResponse:
    """Queue URLs for ingestion, answering in request order.

    A known URL returns its existing id and status unless `force` is set. If any URL is
    invalid, nothing is queued and the answer names each bad one.
    """
    if not request.urls:
        raise HTTPException(422, detail="urls must list at least one URL")
    canonical: list[str] = []
    problems: list[dict[str, Any]] = []
    for position, url in enumerate(request.urls):
        try:
            canonical.append(canonical_url(url))
        except PermanentError as exc:
            problems.append({"loc": ["body", "urls", position], "msg": exc.reason, "input": url})
    if problems:
        raise HTTPException(422, detail=problems)
    answers = [await _submit_one(url, request.force, state) for url in canonical]
    return SubmitResponse(articles=answers)


async def _submit_one(url: str, force: bool, state: ApiState) -> SubmittedArticle:
    ident = article_id(url)
    known = await state.status.get(ident)
    if known is not None and not force:
        return SubmittedArticle(id=ident, url=url, status=known["status"])
    # Each article is its own trace, rooted here, whatever else the request carried.
    with state.tracer.start_as_current_span(
        "submit article",
        context=otel_context.Context(),
        kind=trace.SpanKind.PRODUCER,
        attributes={ATTR_ARTICLE_ID: ident, ATTR_URL: url},
    ):
        event = UrlSubmitted(article_id=ident, url=url, force=force, submitted_at=datetime.now(UTC))
        # Publish first: if Redis fails here, nothing claims the article is queued.
        await state.broker.publish(event, stream=INGEST)
        await state.status.submit(ident, url, trace_id=current_trace_id(), replace=force)
        log.info("submitted", article_id=ident, url=url, force=force)
    return SubmittedArticle(id=ident, url=url, status=ArticleStatus.QUEUED.value)


@router.get("/v1/articles/{article_id}")
async def get_article(article_id: str, state: State) -> dict[str, Any]:
    """Status, per-stage times, error or skip reason, trace id, and the article once indexed."""
    fields = await state.status.get(article_id)
    if fields is None:
        raise HTTPException(404, detail=f"no article with id {article_id}")
    document = None
    if fields.get("status") == ArticleStatus.INDEXED:
        document = await asyncio.to_thread(state.index.get, article_id)
    return article_view(fields, document)


@router.get("/v1/search", response_model=SearchResponse)
async def search(
    state: State,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Words to search for")],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
) -> SearchResponse:
    """Full-text search: words, "phrases", AND / OR / NOT, prefix*; highlighted snippets."""
    try:
        result = await asyncio.to_thread(state.index.search, q, limit)
    except QueryError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    return SearchResponse(
        total=result.total, hits=[Hit(**dataclasses.asdict(hit)) for hit in result.hits]
    )


@router.get("/healthz")
async def healthz(state: State) -> JSONResponse:
    """200 when Redis answers, 503 when it does not."""
    try:
        await state.redis.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means not healthy
        return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})
