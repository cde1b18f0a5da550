"""The HTTP API: submit URLs, follow an article's status, search what was indexed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.api.routes import ApiState, router
from shared.broker import create_broker
from shared.errors import PermanentError
from shared.observability import render_metrics
from shared.redis_client import connect
from shared.search import open_index
from shared.settings import Settings
from shared.status import StatusStore
from shared.streams import STAGES
from shared.telemetry import setup_tracing

log = structlog.get_logger("newsflow.api")


def create_app(settings: Settings) -> FastAPI:
    """Wire the API to Redis, the broker and the search index. Nothing connects until start."""
    tracer_provider = setup_tracing("api", settings)
    broker = create_broker(settings, tracer_provider, "api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis: Redis = connect(settings.redis_url)
        await broker.connect()
        index = await asyncio.to_thread(open_index, settings.search_index_url)
        app.state.newsflow = ApiState(
            redis=redis,
            status=StatusStore(redis),
            broker=broker,
            index=index,
            tracer=tracer_provider.get_tracer("newsflow.api"),
            backlog_limit=settings.ingest_backlog_limit,
        )
        try:
            yield
        finally:
            await broker.stop()
            await redis.aclose()
            index.close()
            tracer_provider.shutdown()

    app = FastAPI(
        title="newsflow",
        version="0.1.0",
        summary="Submit news URLs, follow them through the pipeline, search the articles.",
        lifespan=lifespan,
    )
    app.include_router(router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus: the API's published messages, and every stage's streams and groups."""
        body = await render_metrics(request.app.state.newsflow.redis, STAGES.values())
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(RedisError)
    async def _redis_down(_: Request, exc: RedisError) -> JSONResponse:
        log.error("redis unavailable", error=str(exc))
        return JSONResponse(
            {"detail": "the queue is unavailable, try again shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # A bad query parameter is a bad request; a bad body keeps FastAPI's 422.
        status = 422 if request.method in {"POST", "PUT", "PATCH"} else 400
        return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=status)

    @app.exception_handler(PermanentError)
    async def _permanent(_: Request, exc: PermanentError) -> JSONResponse:
        return JSONResponse({"detail": exc.reason}, status_code=422)

    return app
