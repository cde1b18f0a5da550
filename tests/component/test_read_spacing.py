"""A stage that keeps up with its stream spaces its reads (`read_linger_ms`), so entries
arriving one by one are read together; a backlog is read without waiting. Against a real
server: what is counted is the XREADGROUP calls it answered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from faststream.redis import RedisBroker
from redis.asyncio import Redis

from services.extract.worker import ExtractHandler
from shared.schemas import UrlSubmitted
from shared.settings import Settings
from shared.status import StatusStore
from shared.streams import EXTRACT, Stage, article_key
from shared.worker import StageRunner
from tests.component.helpers import (
    ProbeHandler,
    command_calls,
    running,
    wait_for_entries,
    wait_for_status,
)

pytestmark = pytest.mark.component

SPACED = Stage("spaced", reads="test:spaced:in", writes="test:spaced:out")


async def _submit(broker: RedisBroker, redis: Redis, idents: list[str]) -> None:
    status = StatusStore(redis)
    for ident in idents:
        await status.submit(ident, f"http://example.com/{ident}")
        event = UrlSubmitted(
            article_id=ident, url=f"http://example.com/{ident}", submitted_at=datetime.now(UTC)
        )
        await broker.publish(event, stream=SPACED.reads)


class OneAtATime(ProbeHandler):
    """Handled in the reading task itself, as the clean stage is (FastStream's plain
    subscriber rather than its concurrent one)."""

    concurrency = 1


async def _reads_while_trickling(
    redis: Redis, settings: Settings, linger_ms: int, handler: ProbeHandler
) -> int:
    """XREADGROUP calls the stage makes while six entries arrive 50 ms apart."""
    spaced = settings.model_copy(update={"read_linger_ms": linger_ms})
    runner = StageRunner(SPACED, spaced, handler)
    async with running(runner):
        await _submit(runner.broker, redis, ["first"])
        await wait_for_status(redis, article_key("first"), {"fetched"})
        await asyncio.sleep(1.2)  # past the linger after the read that took it: waiting
        await redis.config_resetstat()
        for n in range(6):
            await _submit(runner.broker, redis, [f"trickle-{n}"])
            await asyncio.sleep(0.05)
        await wait_for_status(redis, article_key("trickle-5"), {"fetched"})
        reads = await command_calls(redis, "xreadgroup")
    await redis.flushdb()
    return reads


@pytest.mark.parametrize("handler_type", [ProbeHandler, OneAtATime])
async def test_entries_arriving_one_by_one_are_read_together(
    redis: Redis, settings: Settings, handler_type: type[ProbeHandler]
) -> None:
    """The first entry is read at once (the stage was waiting in a read); a linger follows
    the read that takes it or the next, and the entries arriving meanwhile come in one read.
    Without spacing each is read on its own."""
    spaced = await _reads_while_trickling(redis, settings, 1000, handler_type())
    unspaced = await _reads_while_trickling(redis, settings, 0, handler_type())
    assert spaced <= 4
    assert unspaced > spaced


def test_only_the_stages_that_gain_from_it_space_their_reads(settings: Settings) -> None:
    """Extract's work per article dwarfs a read: lingering would only idle it."""
    spaced = StageRunner(SPACED, settings, ProbeHandler())
    extract = StageRunner(EXTRACT, settings, ExtractHandler())
    assert "_get_msgs" in vars(spaced.reader)  # the read step is wrapped on the instance
    assert "_get_msgs" not in vars(extract.reader)


async def test_a_backlog_is_read_without_lingering(redis: Redis, settings: Settings) -> None:
    """Full batches mean entries are waiting: the next read starts at once. Five batches
    of four would take 20 s if each waited out the linger."""
    backlogged = settings.model_copy(update={"read_linger_ms": 5000, "batch_size": 4})
    runner = StageRunner(SPACED, backlogged, ProbeHandler())
    async with RedisBroker(settings.redis_url) as producer:  # queued before the stage starts
        await _submit(producer, redis, [f"backlog-{n}" for n in range(20)])
    async with running(runner):
        await wait_for_entries(redis, SPACED.writes, 20, timeout=4)
        await wait_for_status(redis, article_key("backlog-19"), {"fetched"}, timeout=4)
