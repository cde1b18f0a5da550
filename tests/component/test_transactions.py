"""Transactions of handlers that finish together go to the server as one (`TransactionBatcher`),
each handler getting its own replies. Against a real server: what is counted is the EXEC
calls it answered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.coalesce import TransactionBatcher
from shared.schemas import UrlSubmitted
from shared.settings import Settings
from shared.status import StatusStore
from shared.streams import Stage, article_key
from shared.worker import StageRunner
from tests.component.helpers import ProbeHandler, command_calls, running, wait_for_status

pytestmark = pytest.mark.component

PROBE = Stage("together", reads="test:together:in", writes="test:together:out")


async def test_each_handler_gets_the_replies_of_its_own_commands(redis: Redis) -> None:
    batcher = TransactionBatcher(redis, max_batch=8)
    await redis.set("text", "not a number")
    await redis.config_resetstat()

    async def transaction(n: int) -> list[object]:
        pipe = redis.pipeline(transaction=True)
        pipe.set(f"key-{n}", n)
        pipe.incr("text" if n == 2 else "counter")
        return await batcher.execute(pipe)

    first, second, third = await asyncio.gather(*(transaction(n) for n in (1, 2, 3)))
    assert await command_calls(redis, "exec") == 1
    assert batcher.transactions == 1
    assert first == [True, 1]
    assert second[0] is True
    assert isinstance(second[1], ResponseError)  # its own error, as a value
    assert third == [True, 2]
    assert await redis.mget("key-1", "key-2", "key-3") == [b"1", b"2", b"3"]


async def test_a_transaction_refused_as_a_whole_fails_every_handler_in_it(redis: Redis) -> None:
    batcher = TransactionBatcher(redis, max_batch=8)

    async def transaction(n: int) -> list[object]:
        pipe = redis.pipeline(transaction=True)
        pipe.set(f"key-{n}", n)
        if n == 2:
            pipe.execute_command("NO-SUCH-COMMAND")  # refused when queued: EXECABORT
        return await batcher.execute(pipe)

    results = await asyncio.gather(*(transaction(n) for n in (1, 2, 3)), return_exceptions=True)
    assert all(isinstance(result, ResponseError) for result in results)
    assert await redis.exists("key-1", "key-2", "key-3") == 0


async def test_a_pipeline_that_is_more_than_queued_commands_is_sent_on_its_own(
    redis: Redis,
) -> None:
    """Merging keeps only the queued commands: a pipeline that is not a transaction (or
    watches keys, or loads scripts) goes as it is."""
    batcher = TransactionBatcher(redis, max_batch=8)
    pipe = redis.pipeline(transaction=False)
    pipe.set("plain", 1)
    pipe.get("plain")
    assert await batcher.execute(pipe) == [True, b"1"]
    assert batcher.transactions == 0


async def test_a_reads_entries_are_passed_on_in_one_transaction(
    redis: Redis, settings: Settings
) -> None:
    """Four entries read together by a stage handling four at once: one EXEC passes them
    all on (without batching, four)."""
    runner = StageRunner(PROBE, settings, ProbeHandler())
    status = StatusStore(redis)
    idents = [f"together-{n}" for n in range(4)]
    events = [
        UrlSubmitted(
            article_id=ident, url=f"http://example.com/{ident}", submitted_at=datetime.now(UTC)
        )
        for ident in idents
    ]
    for event in events:
        await status.submit(event.article_id, event.url)
    async with running(runner):
        await redis.config_resetstat()
        async with redis.pipeline(transaction=True) as pipe:  # one read takes all four
            for event in events:
                await runner.broker.publish(event, stream=PROBE.reads, pipeline=pipe)
            await pipe.execute()
        for ident in idents:
            await wait_for_status(redis, article_key(ident), {"fetched"})
        execs = await command_calls(redis, "exec")
        pending = await redis.xpending(PROBE.reads, PROBE.group)
    # One EXEC added the entries; passing them on took one more (two, should a turn of
    # the event loop come between them), not four.
    assert execs <= 3
    assert pending["pending"] == 0
    assert await redis.xlen(PROBE.writes) == 4
