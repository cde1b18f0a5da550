"""Dead letters through the fetch stage on a real server: listed, replayed, purged."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from shared.dead import DeadLetters, UnknownDeadLetter, stream_stats
from shared.settings import Settings
from shared.streams import FETCH, article_key
from shared.urls import article_id
from tests.component.fetch_helpers import fetch_runner
from tests.component.helpers import running, wait_for_entries, wait_for_status
from tests.conftest import PageServer

pytestmark = pytest.mark.component


async def test_a_dead_letter_can_be_listed_replayed_and_purged(
    redis: Redis, settings: Settings, page_server: PageServer
) -> None:
    url = page_server.url("gone")
    ident = article_id(url)
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url})
        await wait_for_status(redis, article_key(ident), {"failed"})

    letters = DeadLetters(redis)
    (letter,) = await letters.list()
    assert letter.id.startswith("fetch:")
    assert (letter.article_id, letter.reason) == (ident, "HTTP 404 Not Found")
    assert letter.payload["url"] == url
    assert await letters.get(letter.id) == letter
    stats = {row["stage"]: row for row in await stream_stats(redis)}
    assert stats["fetch"]["dead_letters"] == 1
    assert stats["fetch"]["pending"] == 0

    await letters.replay(letter.id)
    assert await letters.list() == []
    status = await redis.hget(article_key(ident), "status")
    assert status == b"queued"
    # The stage takes the replayed entry like any other: still 404, so it fails again.
    async with running(fetch_runner(settings)):
        await wait_for_status(redis, article_key(ident), {"failed"})
        await wait_for_entries(redis, FETCH.dead_letters, 1)
    assert [d.article_id for d in await letters.list("fetch")] == [ident]
    assert await letters.purge() == 1
    assert await letters.list() == []


async def test_unknown_dead_letters_are_named(redis: Redis) -> None:
    letters = DeadLetters(redis)
    with pytest.raises(UnknownDeadLetter, match="not a dead letter id"):
        await letters.get("nonsense")
    with pytest.raises(UnknownDeadLetter, match="no dead letter fetch:1-1"):
        await letters.replay("fetch:1-1")
    with pytest.raises(UnknownDeadLetter, match="no stage named 'fetched'"):
        await letters.list("fetched")
