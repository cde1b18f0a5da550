"""Prometheus metrics and the health, readiness and metrics server every worker can expose.

One registry per process (`REGISTRY`) holds FastStream's message metrics (the broker's
`RedisPrometheusMiddleware`, see `shared.broker`) and newsflow's own:

- `newsflow_articles_total{stage, outcome}`: taken from each stage's processing span when
  it ends, so the counter and the trace always agree on the outcome;
- `newsflow_fetch_responses_total{code}` and `newsflow_fetch_bytes_total`: counted by the
  fetch code through `count_fetch_response` and `count_fetched_bytes`;
- `newsflow_stream_length`, `_pending`, `_lag`, `_consumers` and `newsflow_dead_letters`:
  read from Redis when `/metrics` is scraped, so they are never stale.

A worker serves `GET /metrics`, `GET /health` (the process answers: liveness) and
`GET /ready` (the broker is running and Redis answers: readiness) on
`NEWSFLOW_METRICS_PORT`. It is off unless set, so the workers of `newsflow up` on one
machine never fight over a port; compose and Kubernetes set it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

import structlog
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge
from prometheus_client import generate_latest as _generate_latest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.redis_values import as_text
from shared.settings import Settings
from shared.streams import Stage
from shared.telemetry import ATTR_OUTCOME, ATTR_STAGE

log = structlog.get_logger("newsflow.observability")

REGISTRY = CollectorRegistry()

ARTICLES = Counter(
    "newsflow_articles",
    "Articles a stage finished handling, by outcome (passed, skipped, failed, retry, dropped)",
    ["stage", "outcome"],
    registry=REGISTRY,
)
FETCH_RESPONSES = Counter(
    "newsflow_fetch_responses",
    "HTTP responses the fetch stage received, by status code (redirects included)",
    ["code"],
    registry=REGISTRY,
)
FETCH_BYTES = Counter(
    "newsflow_fetch_bytes", "Body bytes the fetch stage downloaded", registry=REGISTRY
)
STREAM_LENGTH = Gauge(
    "newsflow_stream_length", "Entries in a stream", ["stream"], registry=REGISTRY
)
STREAM_PENDING = Gauge(
    "newsflow_stream_pending",
    "Entries delivered to a consumer group and not yet acknowledged",
    ["stream", "group"],
    registry=REGISTRY,
)
STREAM_LAG = Gauge(
    "newsflow_stream_lag",
    "Entries in a stream not yet delivered to a consumer group",
    ["stream", "group"],
    registry=REGISTRY,
)
STREAM_CONSUMERS = Gauge(
    "newsflow_stream_consumers",
    "Consumers in a consumer group",
    ["stream", "group"],
    registry=REGISTRY,
)
DEAD_LETTERS = Gauge(
    "newsflow_dead_letters",
    "Entries in a stage's dead-letter stream",
    ["stage"],
    registry=REGISTRY,
)


def count_fetch_response(status_code: int) -> None:
    FETCH_RESPONSES.labels(code=str(status_code)).inc()


def count_fetched_bytes(size: int) -> None:
    FETCH_BYTES.inc(size)


class CountOutcomes(SpanProcessor):
    """Counts `newsflow_articles_total` from the outcome a stage's processing span ends with."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        attributes = span.attributes or {}
        stage, outcome = attributes.get(ATTR_STAGE), attributes.get(ATTR_OUTCOME)
        if isinstance(stage, str) and isinstance(outcome, str):
            ARTICLES.labels(stage=stage, outcome=outcome).inc()


async def refresh_stream_metrics(redis: Redis, stages: Iterable[Stage]) -> None:
    """Set the stream gauges from XINFO for each stage's input stream and dead letters.

    Gauges start empty each time, so a deleted group or stream stops being reported.
    """
    for gauge in (STREAM_LENGTH, STREAM_PENDING, STREAM_LAG, STREAM_CONSUMERS, DEAD_LETTERS):
        gauge.clear()
    for stage in stages:
        STREAM_LENGTH.labels(stream=stage.reads).set(await redis.xlen(stage.reads))
        DEAD_LETTERS.labels(stage=stage.name).set(await redis.xlen(stage.dead_letters))
        if not await redis.exists(stage.reads):
            continue
        for group in await redis.xinfo_groups(stage.reads):
            labels = {"stream": stage.reads, "group": as_text(group["name"])}
            STREAM_PENDING.labels(**labels).set(int(group.get("pending", 0)))
            STREAM_CONSUMERS.labels(**labels).set(int(group.get("consumers", 0)))
            # Redis reports no lag when entries past the group's position were deleted.
            if group.get("lag") is not None:
                STREAM_LAG.labels(**labels).set(int(group["lag"]))


async def render_metrics(redis: Redis, stages: Iterable[Stage]) -> bytes:
    """The registry in Prometheus text format, stream gauges read just now."""
    try:
        await refresh_stream_metrics(redis, stages)
    except RedisError as exc:
        log.warning("stream metrics unavailable", error=str(exc))
    return _generate_latest(REGISTRY)


class MetricsPortUnavailable(RuntimeError):
    """The worker's metrics port cannot be bound; the message says which and what to do."""


Readiness = Callable[[], Awaitable[bool]]
Response = tuple[int, str, bytes]


class HealthServer:
    """A small HTTP/1.1 server for `/metrics`, `/health` and `/ready`, on the worker's loop."""

    def __init__(self, redis: Redis, stages: Iterable[Stage], ready: Readiness) -> None:
        self._redis = redis
        self._stages = tuple(stages)
        self._ready = ready
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def answer(self, path: str) -> Response:
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, await render_metrics(self._redis, self._stages)
        if path == "/health":
            return 200, "text/plain", b"ok\n"
        if path == "/ready":
            if await self._ready():
                return 200, "text/plain", b"ready\n"
            return 503, "text/plain", b"not ready: broker stopped or Redis unreachable\n"
        return 404, "text/plain", b"not found: try /metrics, /health or /ready\n"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=10)
            while (await asyncio.wait_for(reader.readline(), timeout=10)) not in (
                b"\r\n",
                b"\n",
                b"",
            ):
                pass  # headers are not needed
            parts = request_line.decode("latin-1").split()
            if len(parts) < 2 or parts[0] not in {"GET", "HEAD"}:
                status, content_type, body = 405, "text/plain", b"only GET is served\n"
            else:
                status, content_type, body = await self.answer(parts[1].split("?", 1)[0])
            head = (
                f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (body if parts[:1] != ["HEAD"] else b""))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


@asynccontextmanager
async def health_server(
    settings: Settings, redis: Redis, stages: Iterable[Stage], ready: Readiness
) -> AsyncIterator[HealthServer | None]:
    """Serve metrics and health on `settings.metrics_port` while inside; nothing when unset."""
    if settings.metrics_port is None:
        yield None
        return
    server = HealthServer(redis, stages, ready)
    try:
        await server.start(settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        raise MetricsPortUnavailable(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port} "
            f"({exc.strerror or exc}); set NEWSFLOW_METRICS_PORT to a free port"
        ) from exc
    log.info("serving metrics and health", port=server.port)
    try:
        yield server
    finally:
        await server.close()
