"""Parked URLs: a busy host or a long Retry-After sets a URL aside in Redis instead of holding
a fetch task or spending deliveries. Real Valkey, real HTTP servers on 127.0.0.1 and .2."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from redis.asyncio import Redis

from services.api.views import article_view
from services.fetch.parking import ParkingLot
from shared.dead import stream_stats
from shared.retention import pipeline_backlog
from shared.schemas import UrlSubmitted
from shared.settings import Settings
from shared.streams import FETCH, PARKED, article_key
from shared.urls import article_id
from tests.component.fetch_helpers import fetch_runner, fetch_settings
from tests.component.helpers import (
    decode_event,
    running,
    text_fields,
    wait_for_entries,
    wait_for_status,
)
from tests.hostile import HostileServer, hostile_server

pytestmark = pytest.mark.component


def _event(url: str) -> UrlSubmitted:
    return UrlSubmitted(article_id=article_id(url), url=url, submitted_at=datetime.now(UTC))


def _arrivals(hostile: HostileServer, prefix: str) -> list[float]:
    return sorted(r.at for r in hostile.state.requests if r.path.startswith(prefix))


async def test_a_large_batch_of_one_host_is_all_fetched_and_holds_up_no_other_host(
    redis: Redis, redis_server: str, tmp_path: Path, hostile: HostileServer
) -> None:
    """60 URLs of one host ahead of 5 of another; a claim idle time far shorter than the
    batch takes and two deliveries at most: before parking, most of them ended dead."""
    interval = 0.1
    with hostile_server("127.0.0.2") as other:
        settings = fetch_settings(
            redis_server,
            tmp_path,
            [hostile.host_port, other.host_port],
            fetch_host_interval=interval,
            fetch_host_wait=0.5,
            claim_idle_ms=1000,
            max_deliveries=2,
        )
        busy = [hostile.url(f"article?n={i}") for i in range(60)]
        quiet = [other.url(f"article?n={i}") for i in range(5)]
        for url in busy + quiet:
            await redis.xadd(FETCH.reads, {"url": url})
        async with running(fetch_runner(settings)):
            for url in busy + quiet:
                await wait_for_status(redis, article_key(article_id(url)), {"fetched"}, timeout=30)
        quiet_done = _arrivals(other, "/article")[-1]
    assert await redis.xlen(FETCH.dead_letters) == 0
    assert await redis.xlen(FETCH.writes) == 65
    assert await redis.zcard(PARKED) == 0
    busy_times = _arrivals(hostile, "/article")
    assert len(busy_times) == 60  # each page asked for once
    assert min(b - a for a, b in itertools.pairwise(busy_times)) >= interval
    # The other host's pages were all fetched while the busy host had most of its to go.
    assert sum(1 for t in busy_times if t <= quiet_done) < 20


def _short_waits(redis_server: str, tmp_path: Path, hostile: HostileServer) -> Settings:
    """Waits a server asks for outlast a delivery's own (0.5 s) and the claim idle time."""
    return fetch_settings(
        redis_server,
        tmp_path,
        [hostile.host_port],
        claim_idle_ms=1000,
        max_deliveries=2,
        fetch_max_wait=0.5,
        fetch_host_wait=0.5,
    )


async def test_a_retry_after_longer_than_the_claim_idle_time_is_honoured_and_fetched(
    redis: Redis, redis_server: str, tmp_path: Path, hostile: HostileServer
) -> None:
    settings = _short_waits(redis_server, tmp_path, hostile)
    url = hostile.url("busy?after=2&code=503&n=1")
    key = article_key(article_id(url))
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url})
        while not await redis.zcard(PARKED):
            await asyncio.sleep(0.02)
        waiting = article_view(text_fields(await redis.hgetall(key)), None)
        status = await wait_for_status(redis, key, {"fetched"})
        (entry,) = await wait_for_entries(redis, FETCH.writes, 1)
    assert waiting["status"] == "queued"
    assert waiting["waiting"]["reason"] == (
        "HTTP 503 Service Unavailable; the server asked to wait 2 s"
    )
    first, second = _arrivals(hostile, "/busy")
    assert second - first >= 2.0
    assert await redis.xlen(FETCH.dead_letters) == 0
    # The parked entry carried the article's trace on.
    _, headers = decode_event(entry)
    assert status["trace_id"] in headers["traceparent"]


async def test_a_server_that_never_stops_asking_to_wait_ends_failed(
    redis: Redis, redis_server: str, tmp_path: Path, hostile: HostileServer
) -> None:
    settings = _short_waits(redis_server, tmp_path, hostile)
    url = hostile.url("busy?after=1&n=100")
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url})
        fields = await wait_for_status(redis, article_key(article_id(url)), {"failed"})
    assert fields["error_reason"] == (
        "HTTP 429 Too Many Requests; the server asked to wait 1 s (gave up after 2 attempts)"
    )
    assert hostile.state.count("/busy?after=1&n=100") == 2
    assert await redis.zcard(PARKED) == 0


async def test_parked_urls_count_in_the_backlog_and_come_back_once(
    redis: Redis, redis_server: str
) -> None:
    """Two movers, as two replicas would run, put each due URL back exactly once."""
    parking = ParkingLot(redis)
    second_redis: Redis = Redis.from_url(redis_server)
    try:
        other = ParkingLot(second_redis)
        for i in range(50):
            await parking.park(
                _event(f"http://example.com/{i}"), host="example.com", wait=0, interval=0.001
            )
        assert await pipeline_backlog(redis) == 50
        stats = {row["stage"]: row["parked"] for row in await stream_stats(redis)}
        assert stats == {"fetch": 50, "clean": 0, "extract": 0, "index": 0}
        await asyncio.sleep(0.1)  # all due
        moved = await asyncio.gather(*(lot.move_due(limit=7) for lot in (parking, other) * 6))
        moved += [await parking.move_due()]
    finally:
        await second_redis.aclose()
    assert sum(moved) == 50
    assert await redis.xlen(FETCH.reads) == 50
    assert await redis.zcard(PARKED) == 0
    assert await pipeline_backlog(redis) == 50  # now as unread ingest entries


async def test_parked_urls_of_one_host_are_spaced_by_its_interval(redis: Redis) -> None:
    parking = ParkingLot(redis)
    dues = [
        await parking.park(_event(f"http://example.com/{i}"), host="example.com", wait=0.0,
                           interval=2.0)
        for i in range(3)
    ]  # fmt: skip
    elsewhere = await parking.park(
        _event("http://example.org/"), host="example.org", wait=0.0, interval=2.0
    )
    assert dues[0] == pytest.approx(0.0, abs=0.05)  # due now: the host had nothing parked
    assert dues[1] == pytest.approx(2.0, abs=0.05)
    assert dues[2] == pytest.approx(4.0, abs=0.05)
    assert elsewhere == pytest.approx(0.0, abs=0.05)
    assert await parking.move_due() == 2


async def test_a_url_parked_before_a_crash_is_fetched_once(
    redis: Redis, redis_server: str, tmp_path: Path, hostile: HostileServer
) -> None:
    """A delivery parked the URL and died before its ack: the redelivery fetches it, and the
    parked copy goes (or, should it come back first, is dropped as already known)."""
    settings = fetch_settings(redis_server, tmp_path, [hostile.host_port])
    url = hostile.url("article")
    await ParkingLot(redis).park(_event(url), host="127.0.0.1", wait=60, interval=1)
    await redis.xadd(FETCH.reads, {"url": url})
    async with running(fetch_runner(settings)):
        await wait_for_status(redis, article_key(article_id(url)), {"fetched"})
    assert await redis.zcard(PARKED) == 0
    assert await redis.xlen(FETCH.writes) == 1
    assert hostile.state.count("/article") == 1


async def test_a_batch_whose_pages_all_redirect_within_their_host_is_fetched_once_each(
    redis: Redis, redis_server: str, tmp_path: Path, hostile: HostileServer
) -> None:
    """As with http -> https on one site: the second hop waits for its host rather than
    being parked, which would spend the first hop again (and again)."""
    settings = fetch_settings(
        redis_server,
        tmp_path,
        [hostile.host_port],
        fetch_host_interval=0.05,
        fetch_host_wait=0.2,
        claim_idle_ms=30_000,  # no redelivery on a busy machine: only parking could refetch
    )
    urls = [
        hostile.url(f"redirect?to={quote(hostile.url(f'article?n={i}'), safe='')}")
        for i in range(20)
    ]
    for url in urls:
        await redis.xadd(FETCH.reads, {"url": url})
    async with running(fetch_runner(settings)):
        for url in urls:
            await wait_for_status(redis, article_key(article_id(url)), {"fetched"}, timeout=30)
    assert len(_arrivals(hostile, "/redirect")) == 20
    assert len(_arrivals(hostile, "/article")) == 20
