"""Run a stage in-process against the real server, and read what it writes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

import httpx
from faststream.redis.parser.binary import BinaryMessageFormatV1
from redis.asyncio import Redis

from services.api.app import create_app
from shared.errors import RetryableError
from shared.schemas import ArticleExtracted, Content, UrlSubmitted
from shared.settings import Settings
from shared.status import ArticleStatus
from shared.worker import BaseStageHandler, Outcome, StageContext, StageRunner

Fields = dict[bytes, bytes]


async def command_calls(redis: Redis, command: str) -> int:
    """How many times the server has answered `command` since its statistics were reset."""
    stats = await redis.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


class ProbeHandler(BaseStageHandler[UrlSubmitted]):
    """Passes URLs on unchanged, except those containing `fail`, which always raise."""

    event_type = UrlSubmitted
    done = ArticleStatus.FETCHED
    concurrency = 4

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    async def handle(self, event: UrlSubmitted, ctx: StageContext) -> Outcome:
        self.calls[event.article_id] = self.calls.get(event.article_id, 0) + 1
        if "fail" in event.url:
            raise RetryableError("the probe always fails on this URL")
        return Outcome(event)


def extracted_article(n: int) -> ArticleExtracted:
    """A small extracted article, as the index stage receives it; `art-<n>`."""
    return ArticleExtracted(
        article_id=f"art-{n}",
        url=f"https://example.com/{n}",
        content=Content(title=f"Story {n}", text=f"Lavrov and Pompeo met, report number {n}."),
        entities=[],
        extracted_at=datetime.now(UTC),
    )


@asynccontextmanager
async def running(runner: StageRunner[Any]) -> AsyncIterator[StageRunner[Any]]:
    async with runner.lifespan():
        await runner.broker.start()
        try:
            yield runner
        finally:
            await runner.broker.stop()


async def wait_for_entries(
    redis: Redis, stream: str, count: int, timeout: float = 15.0
) -> list[Fields]:
    """The entries of `stream` once it holds at least `count`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        entries = cast(list[tuple[bytes, Fields]], await redis.xrange(stream))
        if len(entries) >= count:
            return [fields for _, fields in entries]
        if loop.time() > deadline:
            raise AssertionError(f"{stream} has {len(entries)} entries, expected {count}")
        await asyncio.sleep(0.05)


def decode_event(fields: Fields) -> tuple[dict[str, Any], dict[str, Any]]:
    """Body and headers of an entry FastStream published."""
    payload, headers = BinaryMessageFormatV1.parse(fields[b"__data__"])
    body: dict[str, Any] = json.loads(payload)
    return body, headers


def text_fields(
    fields: Mapping[bytes, bytes] | Mapping[bytes | str, bytes | str],
) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in fields.items()}


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


async def wait_for_status(
    redis: Redis, key: str, statuses: set[str], timeout: float = 15.0
) -> dict[str, str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        fields = text_fields(await redis.hgetall(key))
        if fields.get("status") in statuses:
            return fields
        if loop.time() > deadline:
            raise AssertionError(f"{key} is {fields.get('status')!r}, expected one of {statuses}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API app with its lifespan run, called in-process over ASGI."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c,
    ):
        yield c
