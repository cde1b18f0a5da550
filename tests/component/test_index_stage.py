"""The index stage against a real Valkey server and a real SQLite file."""

from __future__ import annotations

import asyncio

import pytest
from faststream.redis import RedisBroker
from redis.asyncio import Redis

from services.index.worker import IndexHandler
from shared.schemas import ArticleExtracted
from shared.search import SearchQuery, open_index
from shared.settings import Settings
from shared.status import StatusStore
from shared.streams import INDEX
from shared.worker import StageRunner
from tests.component.helpers import (
    decode_event,
    extracted_article,
    running,
    wait_for_entries,
)

pytestmark = pytest.mark.component


async def _index_stage(
    redis: Redis, settings: Settings, count: int
) -> tuple[IndexHandler, StageRunner[ArticleExtracted], list[ArticleExtracted]]:
    """The stage, not started, and `count` articles submitted as the API would have."""
    handler = IndexHandler(settings)
    status = StatusStore(redis)
    articles = [extracted_article(n) for n in range(count)]
    for article in articles:
        await status.submit(article.article_id, article.url)
    return handler, StageRunner(INDEX, settings, handler), articles


async def test_articles_arriving_together_are_written_in_batches_once_each(
    redis: Redis, settings: Settings
) -> None:
    settings = settings.model_copy(update={"trim_interval_seconds": 0.2})
    handler, runner, articles = await _index_stage(redis, settings, 40)
    status = StatusStore(redis)
    async with RedisBroker(settings.redis_url) as producer:
        for article in articles:  # queued before the stage starts, so they arrive together
            await producer.publish(article, stream=INDEX.reads)
    async with running(runner):
        published = await wait_for_entries(redis, INDEX.writes, len(articles))
        # Re-delivering the same events leaves one document per article.
        for article in articles[:5]:
            await runner.broker.publish(article, stream=INDEX.reads)
        await wait_for_entries(redis, INDEX.writes, len(articles) + 5)
        # Everything is acknowledged, so the stage's trimmer empties its input stream.
        deadline = asyncio.get_running_loop().time() + 10
        while await redis.xlen(INDEX.reads) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        assert await redis.xlen(INDEX.reads) == 0
    assert handler.writer is not None
    assert handler.writer.largest_batch > 1
    assert handler.writer.batches < len(articles)
    assert {decode_event(e)[0]["article_id"] for e in published} == {a.article_id for a in articles}
    index = open_index(settings.search_index_url)
    try:
        assert index.count() == len(articles)
        assert index.search(SearchQuery(q="Lavrov", limit=100)).total == len(articles)
    finally:
        index.close()
    for article in articles:
        fields = await status.get(article.article_id)
        assert fields is not None
        assert fields["status"] == "indexed"
        assert fields["revision"] == "1"


async def _batches_for_six_at_once(redis: Redis, settings: Settings) -> tuple[int, int]:
    """Batches the stage writes for six articles appended in one `MULTI`/`EXEC`, once it
    has written a first article alone; and its largest batch."""
    handler, runner, articles = await _index_stage(redis, settings, 7)
    async with running(runner):
        await runner.broker.publish(articles[0], stream=INDEX.reads)
        await wait_for_entries(redis, INDEX.writes, 1)
        assert handler.writer is not None
        before = handler.writer.batches
        async with redis.pipeline(transaction=True) as pipe:
            for article in articles[1:]:
                await runner.broker.publish(article, stream=INDEX.reads, pipeline=pipe)
            await pipe.execute()
        await wait_for_entries(redis, INDEX.writes, len(articles))
        return handler.writer.batches - before, handler.writer.largest_batch


async def test_the_articles_of_one_read_are_written_in_one_transaction(
    redis: Redis, settings: Settings
) -> None:
    """Six articles appended at once come in one read and reach their handlers a few
    event-loop turns apart; they still share one write."""
    assert await _batches_for_six_at_once(redis, settings) == (1, 6)


async def _batches_while_trickling(redis: Redis, settings: Settings, linger_ms: int) -> int:
    """Batches the stage writes while six articles arrive 50 ms apart."""
    settings = settings.model_copy(update={"read_linger_ms": 0, "index_read_linger_ms": linger_ms})
    handler, runner, articles = await _index_stage(redis, settings, 7)
    async with running(runner):
        await runner.broker.publish(articles[0], stream=INDEX.reads)
        await wait_for_entries(redis, INDEX.writes, 1)
        await asyncio.sleep(1.2)  # past the linger after the read that took it: waiting
        assert handler.writer is not None
        before = handler.writer.batches
        for article in articles[1:]:
            await runner.broker.publish(article, stream=INDEX.reads)
            await asyncio.sleep(0.05)
        await wait_for_entries(redis, INDEX.writes, len(articles))
        batches = handler.writer.batches - before
    await redis.flushdb()
    return batches


async def test_articles_arriving_one_by_one_are_written_a_few_at_a_time(
    redis: Redis, settings: Settings
) -> None:
    """The index spaces its reads by its own setting (the other stages' is 0 here): six
    articles arriving 50 ms apart are written in two or three batches; unspaced, in more."""
    lingering = await _batches_while_trickling(redis, settings, 1000)
    unspaced = await _batches_while_trickling(redis, settings, 0)
    assert lingering <= 3
    assert unspaced > lingering


async def test_a_read_takes_as_many_articles_as_one_write(redis: Redis, settings: Settings) -> None:
    """Reads are as large as the index's batches, not `batch_size`: six articles queued at
    once come in one read and are written together (with reads of two, in three)."""
    settings = settings.model_copy(update={"batch_size": 2, "index_batch_size": 8})
    assert await _batches_for_six_at_once(redis, settings) == (1, 6)
