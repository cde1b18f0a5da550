"""The API's routes. Their dependencies live on `app.state.newsflow` (see `create_app`)."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime
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
from shared.dead import DeadLetters, UnknownDeadLetter, stream_stats
from shared.errors import PermanentError
from shared.retention import pipeline_backlog
from shared.schemas import UrlSubmitted
from shared.search import (
    MAX_LIMIT,
    EntityCount,
    FacetCount,
    QueryError,
    SearchHit,
    SearchIndex,
    SearchQuery,
)
from shared.search.base import Sort
from shared.status import ArticleStatus, StatusStore
from shared.streams import INGEST
from shared.telemetry import ATTR_ARTICLE_ID, ATTR_URL, current_trace_id
from shared.urls import article_id, canonical_url

log = structlog.get_logger("newsflow.api")
MAX_URLS_PER_REQUEST = 1000
RETRY_AFTER_SECONDS = 30


@dataclass(frozen=True, slots=True)
class ApiState:
    redis: Redis
    status: StatusStore
    broker: RedisBroker
    index: SearchIndex
    tracer: trace.Tracer
    backlog_limit: int


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


class SearchResponse(BaseModel):
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetCount]]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class StoryResponse(BaseModel):
    id: str
    articles: list[SearchHit]


class EntitiesResponse(BaseModel):
    entities: list[EntityCount]


SEARCH_PARAMETERS = frozenset(
    {"q", "person", "organization", "place", "source", "lang", "from", "to", "story", "sort",
     "limit", "cursor"}
)  # fmt: skip


@router.post(
    "/v1/articles",
    status_code=202,
    response_model=SubmitResponse,
    responses={429: {"description": "Pipeline backlog over its limit; see Retry-After"}},
)
async def submit_articles(request: SubmitRequest, state: State) -> SubmitResponse | JSONResponse:
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
    waiting = await pipeline_backlog(state.redis)
    if waiting >= state.backlog_limit:
        # Refuse at the door rather than let the queue outgrow memory; nothing is queued.
        return JSONResponse(
            {"detail": f"pipeline backlog is full ({waiting} articles waiting); retry later"},
            status_code=429,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
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
        if known is not None:
            # A forced re-fetch starts the status over, and says where the last run got to
            # (`previous_status`), so that the fetch stage, finding the page unchanged, can
            # leave the article as that run left it. Both are written before the event exists:
            # published first, it could be handled before the status was started over.
            await state.status.submit(ident, url, trace_id=current_trace_id(), replace=True)
            await state.status.advance(ident, ArticleStatus.QUEUED, previous_status=known["status"])
            await state.broker.publish(event, stream=INGEST)
        else:
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
    request: Request,
    state: State,
    *,
    q: Annotated[
        str, Query(max_length=500, description='Words, "phrases", AND / OR / NOT, prefix*')
    ] = "",
    person: Annotated[
        list[str], Query(description="Canonical person name; repeat for all of several")
    ] = [],  # noqa: B006
    organization: Annotated[list[str], Query(description="Canonical organisation name")] = [],  # noqa: B006
    place: Annotated[list[str], Query(description="Canonical place name")] = [],  # noqa: B006
    source: Annotated[str | None, Query(description="Site, e.g. tass.com")] = None,
    lang: Annotated[str | None, Query(description="Language code, e.g. en")] = None,
    from_: Annotated[
        date | None, Query(alias="from", description="Published on or after (ISO date)")
    ] = None,
    to: Annotated[date | None, Query(description="Published on or before (ISO date)")] = None,
    story: Annotated[str | None, Query(description="Story id")] = None,
    sort: Annotated[
        Sort, Query(description="relevance (default) or date, newest first")
    ] = "relevance",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> SearchResponse:
    """Full-text search with filters, facet counts, highlighted snippets and cursor pages."""
    unknown = sorted(set(request.query_params) - SEARCH_PARAMETERS)
    if unknown:
        raise HTTPException(400, detail=f"unknown search parameter(s): {', '.join(unknown)}")
    try:
        query = SearchQuery(
            q=q, person=tuple(person), organization=tuple(organization), place=tuple(place),
            source=source, lang=lang, date_from=from_, date_to=to, story=story, sort=sort,
            limit=limit, cursor=cursor,
        )  # fmt: skip
        result = await asyncio.to_thread(state.index.search, query)
    except QueryError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    return SearchResponse(
        total=result.total,
        hits=result.hits,
        facets=result.facets,
        next_cursor=result.next_cursor,
    )


@router.get("/v1/stories/{story_id}", response_model=StoryResponse)
async def get_story(
    story_id: str, state: State, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50
) -> StoryResponse:
    """The articles of one story, newest first."""
    hits = await asyncio.to_thread(state.index.story, story_id, limit)
    if not hits:
        raise HTTPException(404, detail=f"no story with id {story_id}")
    return StoryResponse(id=story_id, articles=hits)


@router.get("/v1/entities", response_model=EntitiesResponse)
async def list_entities(
    state: State,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Name prefix")],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
) -> EntitiesResponse:
    """Canonical entities whose name starts with `q`, with how many articles name them."""
    found = await asyncio.to_thread(state.index.entities, q, limit)
    return EntitiesResponse(entities=found)


@router.get("/healthz")
async def healthz(state: State) -> JSONResponse:
    """200 when Redis answers, 503 when it does not."""
    try:
        await state.redis.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means not healthy
        return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/v1/dead")
async def list_dead_letters(
    state: State,
    stage: Annotated[str | None, Query(description="fetch, clean, extract or index")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """What the stages gave up on, newest first, with the reason and the original payload."""
    try:
        letters = await DeadLetters(state.redis).list(stage, limit)
    except UnknownDeadLetter as exc:
        raise HTTPException(400, detail=exc.reason) from exc
    return {"dead_letters": [dataclasses.asdict(letter) for letter in letters]}


@router.post("/v1/dead/{dead_id}/replay", status_code=202)
async def replay_dead_letter(dead_id: str, state: State) -> dict[str, Any]:
    """Queue a dead letter's payload again on its stage; its article starts over."""
    try:
        letter = await DeadLetters(state.redis).replay(dead_id)
    except UnknownDeadLetter as exc:
        raise HTTPException(404, detail=exc.reason) from exc
    return {"replayed": dead_id, "stage": letter.stage, "article_id": letter.article_id}


@router.get("/v1/streams")
async def streams(state: State) -> dict[str, Any]:
    """Per stage: stream length, pending entries, lag, consumers and dead letters."""
    return {"stages": await stream_stats(state.redis)}
