"""What the stage frame costs besides the work: no thread hop per message, the entry
acknowledged in the step that moves the status, few round trips while the stream is quiet.
Against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import pytest
from faststream.redis.message import RedisStreamMessage
from redis.asyncio import Redis

from shared.redis_values import as_text
from shared.schemas import UrlSubmitted
from shared.settings import Settings
from shared.status import ArticleStatus, StatusStore, StreamEntry
from shared.streams import Stage, article_key
from shared.worker import (
    READ_BLOCK_MS,
    StageRunner,
    reclaim_interval_ms,
)
from tests.component.helpers import (
    ProbeHandler,
    command_calls,
    running,
    wait_for_entries,
    wait_for_status,
)

pytestmark = pytest.mark.component

QUIET = Stage("quiet", reads="test:quiet:in", writes="test:quiet:out")


async def test_a_message_is_handled_without_a_worker_thread(
    redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each hop to a worker thread costs CPU in both threads; the frame needs none."""
    hops = 0
    run_sync: Callable[..., Any] = anyio.to_thread.run_sync

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal hops
        hops += 1
        return await run_sync(*args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    runner = StageRunner(QUIET, settings, ProbeHandler())
    async with running(runner):
        await _publish(runner, redis, 20, "frame")
        await wait_for_entries(redis, QUIET.writes, 20)
        await wait_for_status(redis, article_key("frame-19"), {"fetched"})
    assert hops == 0


async def _publish(runner: StageRunner[Any], redis: Redis, count: int, prefix: str) -> None:
    status = StatusStore(redis)
    for n in range(count):
        ident = f"{prefix}-{n}"
        await status.submit(ident, f"http://example.com/{ident}")
        event = UrlSubmitted(
            article_id=ident, url=f"http://example.com/{ident}", submitted_at=datetime.now(UTC)
        )
        await runner.broker.publish(event, stream=QUIET.reads)


async def test_a_passed_entry_is_acknowledged_with_its_status_move(
    redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No separate XACK round trip: the status script acknowledges the entry."""
    separate_acks = 0
    ack: Callable[..., Any] = RedisStreamMessage.ack

    async def counted(self: RedisStreamMessage, *args: Any, **kwargs: Any) -> Any:
        nonlocal separate_acks
        separate_acks += 1
        return await ack(self, *args, **kwargs)

    monkeypatch.setattr(RedisStreamMessage, "ack", counted)
    runner = StageRunner(QUIET, settings, ProbeHandler())
    async with running(runner):
        await _publish(runner, redis, 10, "acked")
        await wait_for_entries(redis, QUIET.writes, 10)
        await wait_for_status(redis, article_key("acked-9"), {"fetched"})
        pending = await redis.xpending(QUIET.reads, QUIET.group)
    assert pending["pending"] == 0
    assert separate_acks == 0


async def test_an_event_that_cannot_be_appended_moves_nothing_and_ends_dead_lettered(
    redis: Redis, settings: Settings
) -> None:
    """The status step shares the publishing transaction, which runs every command whatever
    another returned: it must refuse when the append failed, or the entry would be
    acknowledged and the article left `fetched` with nothing passed on."""
    await redis.set(QUIET.writes, "a key of another type")
    runner = StageRunner(QUIET, settings, ProbeHandler())
    async with running(runner):
        await _publish(runner, redis, 1, "unpublished")
        (letter,) = await wait_for_entries(redis, QUIET.dead_letters, 1, timeout=30)
        status = await wait_for_status(redis, article_key("unpublished-0"), {"failed"})
    reason = as_text(letter[b"reason"])
    assert reason.startswith("could not pass the event on to test:quiet:out: WRONGTYPE")
    assert "the event was not published: test:quiet:out is not a stream" in reason
    assert f"gave up after {settings.max_deliveries} attempts" in reason
    assert "quiet_ms" not in status  # the stage's own step never landed
    assert (await redis.xpending(QUIET.reads, QUIET.group))["pending"] == 0


async def test_the_entry_is_acknowledged_even_when_the_status_does_not_move(
    redis: Redis,
) -> None:
    status = StatusStore(redis)
    await status.submit("done-already", "http://example.com/done")
    await status.advance("done-already", ArticleStatus.INDEXED)
    await redis.xgroup_create("test:ack:in", "g", id="0", mkstream=True)
    entry_id = await redis.xadd("test:ack:in", {"article_id": "done-already"})
    await redis.xreadgroup("g", "c", {"test:ack:in": ">"})
    moved = await status.advance(
        "done-already",
        ArticleStatus.FETCHED,
        ack=StreamEntry("test:ack:in", "g", as_text(entry_id)),
    )
    pending = await redis.xpending("test:ack:in", "g")
    assert not moved
    assert pending["pending"] == 0
    assert (await status.get("done-already") or {})["status"] == "indexed"


async def test_a_quiet_stage_makes_few_round_trips(redis: Redis, settings: Settings) -> None:
    """Reader and reclaimer each look about once a second on an empty stream, not ten times."""
    quiet = settings.model_copy(update={"claim_idle_ms": 60_000})
    runner = StageRunner(QUIET, quiet, ProbeHandler())
    async with running(runner):
        await asyncio.sleep(0.5)  # past start-up
        await redis.config_resetstat()
        await asyncio.sleep(3)
        reads = await command_calls(redis, "xreadgroup")
        claims = await command_calls(redis, "xautoclaim")
    assert reads <= 3 * 1000 / READ_BLOCK_MS + 1
    assert claims <= 3 * 1000 / reclaim_interval_ms(60_000) + 1
    assert reads + claims < 10  # at the former 100 ms each, 60


def test_the_reclaimer_looks_more_often_when_entries_are_reclaimed_sooner() -> None:
    assert reclaim_interval_ms(1000) == 100
    assert reclaim_interval_ms(5000) == 500
    assert reclaim_interval_ms(120_000) == 1000
