"""Broker factory: every process talks to Redis through a broker made here."""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, cast

from faststream.redis import RedisBroker
from faststream.redis.opentelemetry import RedisTelemetryMiddleware
from faststream.redis.prometheus import RedisPrometheusMiddleware
from redis.exceptions import ResponseError

from shared.observability import REGISTRY
from shared.redis_client import connection_class_for

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from redis.asyncio import Redis
    from redis.asyncio.connection import Connection

    from shared.settings import Settings


def consumer_name(stage: str) -> str:
    """Unique per process, so replicas never share a pending list: `<stage>-<host>-<pid>`."""
    return f"{stage}-{socket.gethostname()}-{os.getpid()}"


def create_broker(settings: Settings, tracer_provider: TracerProvider, service: str) -> RedisBroker:
    """A broker that carries trace context in message headers and counts messages for
    Prometheus (`shared.observability.REGISTRY`). Connects on start, not here."""
    return RedisBroker(
        settings.redis_url,
        # Typed as `Connection` by FastStream; any class redis-py's pool takes works.
        connection_class=cast("type[Connection]", connection_class_for(settings.redis_url)),
        middlewares=[
            RedisTelemetryMiddleware(tracer_provider=tracer_provider),
            RedisPrometheusMiddleware(registry=REGISTRY, app_name=f"newsflow-{service}"),
        ],
        logger=logging.getLogger(f"newsflow.broker.{service}"),
        # FastStream logs a line per message at this level; below INFO keeps it out of sight.
        log_level=logging.DEBUG,
    )


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    """Create `group` on `stream` at id 0, so entries added before the first start are read.

    FastStream would create it at `$` and silently skip everything already queued.
    """
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
