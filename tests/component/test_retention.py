"""Trimming and backpressure against a real server: nothing unacknowledged is ever dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from redis.asyncio import Redis

from shared.broker import ensure_group
from shared.retention import backlog, pipeline_backlog, trim_acknowledged
from shared.settings import Settings
from shared.streams import EXTRACT, FETCH, INGEST, STAGES
from tests.component.helpers import api_client

pytestmark = pytest.mark.component


async def _read(redis: Redis, stream: str, group: str, count: int) -> list[bytes]:
    """Ids of up to `count` new entries read by `group` (they become pending)."""
    answer = cast(
        list[tuple[bytes, list[tuple[bytes, Any]]]],
        await redis.xreadgroup(group, "c1", {stream: ">"}, count=count),
    )
    return [entry_id for entry_id, _ in answer[0][1]] if answer else []


async def test_trim_keeps_everything_a_group_has_not_acknowledged(redis: Redis) -> None:
    stream = "test:retention"
    await ensure_group(redis, stream, "fast")
    await ensure_group(redis, stream, "slow")
    ids = [cast(bytes, await redis.xadd(stream, {"n": str(n)})) for n in range(10)]
    # "fast" reads and acks everything; "slow" reads four and acks only the first two.
    await redis.xack(stream, "fast", *await _read(redis, stream, "fast", 100))
    slow = await _read(redis, stream, "slow", 4)
    await redis.xack(stream, "slow", *slow[:2])

    assert await trim_acknowledged(redis, stream) == 2
    remaining = [
        entry_id for entry_id, _ in cast(list[tuple[bytes, Any]], await redis.xrange(stream))
    ]
    assert remaining == ids[2:]  # slow's pending two and its six unread stay

    await redis.xack(stream, "slow", *ids[2:4])
    await redis.xack(stream, "slow", *await _read(redis, stream, "slow", 100))
    assert await trim_acknowledged(redis, stream) == 8
    assert await redis.xlen(stream) == 0
    assert await trim_acknowledged(redis, "test:no-such-stream") == 0


async def test_backlog_counts_unread_and_pending(redis: Redis) -> None:
    await ensure_group(redis, INGEST, FETCH.group)
    for n in range(5):
        await redis.xadd(INGEST, {"url": f"https://example.com/{n}"})
    assert await backlog(redis, INGEST, FETCH.group) == 5
    read = await _read(redis, INGEST, FETCH.group, 2)
    assert await backlog(redis, INGEST, FETCH.group) == 5  # 3 unread + 2 pending
    await redis.xack(INGEST, FETCH.group, *read)
    assert await backlog(redis, INGEST, FETCH.group) == 3


@pytest.fixture
async def small_api(settings: Settings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings.model_copy(update={"ingest_backlog_limit": 3})) as c:
        yield c


async def test_api_answers_429_while_the_backlog_is_full(
    small_api: httpx.AsyncClient, redis: Redis
) -> None:
    await ensure_group(redis, INGEST, FETCH.group)
    accepted = await small_api.post(
        "/v1/articles", json={"urls": [f"https://example.com/{n}" for n in range(3)]}
    )
    assert accepted.status_code == 202
    refused = await small_api.post("/v1/articles", json={"urls": ["https://example.com/late"]})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "30"
    assert "backlog is full (3 articles waiting)" in refused.json()["detail"]
    assert await redis.xlen(INGEST) == 3  # nothing queued by the refused request
    # Once the fetch group has finished entries, submissions are accepted again.
    await redis.xack(INGEST, FETCH.group, *await _read(redis, INGEST, FETCH.group, 10))
    again = await small_api.post("/v1/articles", json={"urls": ["https://example.com/late"]})
    assert again.status_code == 202


async def test_the_backlog_counts_articles_waiting_at_any_stage(
    small_api: httpx.AsyncClient, redis: Redis
) -> None:
    """A stalled later stage fills memory as surely as a stalled fetch: both count."""
    for stage in STAGES.values():
        await ensure_group(redis, stage.reads, stage.group)
    await redis.xadd(INGEST, {"url": "https://example.com/waiting-for-fetch"})
    for n in range(2):
        await redis.xadd(EXTRACT.reads, {"data": f"cleaned {n}"})
    assert await pipeline_backlog(redis) == 3
    refused = await small_api.post("/v1/articles", json={"urls": ["https://example.com/new"]})
    assert refused.status_code == 429
    await redis.xack(
        EXTRACT.reads, EXTRACT.group, *await _read(redis, EXTRACT.reads, EXTRACT.group, 5)
    )
    assert await pipeline_backlog(redis) == 1
    again = await small_api.post("/v1/articles", json={"urls": ["https://example.com/new"]})
    assert again.status_code == 202


async def test_only_idle_consumers_without_pending_entries_are_removed(redis: Redis) -> None:
    from shared.retention import remove_idle_consumers

    stream = "test:consumers"
    await ensure_group(redis, stream, "g")
    for n in range(2):
        await redis.xadd(stream, {"n": str(n)})
    holder = await _read_as(redis, stream, "dead-holding", 1)
    assert holder
    await redis.xgroup_createconsumer(stream, "g", "me")
    await redis.xgroup_createconsumer(stream, "g", "idle-empty")
    removed = await remove_idle_consumers(redis, stream, "g", idle_ms=0, keep="me")
    names = {c["name"].decode() for c in await redis.xinfo_consumers(stream, "g")}
    assert "dead-holding" in names  # still holds an entry: the reclaimer must take it first
    assert "me" in names
    assert "idle-empty" in removed
    assert "idle-empty" not in names
    # Nobody idles long enough under a real threshold.
    assert await remove_idle_consumers(redis, stream, "g", idle_ms=60_000, keep="me") == []


async def _read_as(redis: Redis, stream: str, consumer: str, count: int) -> list[bytes]:
    answer = cast(
        list[tuple[bytes, list[tuple[bytes, Any]]]],
        await redis.xreadgroup("g", consumer, {stream: ">"}, count=count),
    )
    return [entry_id for entry_id, _ in answer[0][1]] if answer else []
