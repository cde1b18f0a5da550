"""The fetch stage's identity rules: one article per canonical URL, conditional re-fetch,
and an unchanged page that does not flow downstream again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio import Redis

from services.fetch.worker import parse_ingest_entry
from shared.settings import Settings
from shared.status import ArticleStatus, StatusStore
from shared.streams import FETCH, article_key, fetch_lease_key
from shared.urls import article_id, canonical_url
from tests.component.fetch_helpers import fetch_runner, fetch_settings
from tests.component.helpers import (
    api_client,
    decode_event,
    running,
    text_fields,
    wait_for_entries,
    wait_for_status,
)
from tests.hostile import HostileServer

pytestmark = pytest.mark.component


@pytest.fixture
def settings(redis_server: str, tmp_path: Path, hostile: HostileServer) -> Settings:
    return fetch_settings(redis_server, tmp_path, [hostile.host_port])


async def test_spellings_of_one_article_are_fetched_once(
    redis: Redis, settings: Settings, hostile: HostileServer
) -> None:
    base = hostile.url("article")
    spellings = [
        base,
        base.replace("http://", "HTTP://") + "#top",
        base + "?utm_source=x&utm_medium=y",
        base.replace("/article", ":80/article").replace(f":{hostile.port}:80", f":{hostile.port}"),
        base + "?fbclid=abc",
    ]
    assert len({canonical_url(s) for s in spellings}) == 1
    async with running(fetch_runner(settings)):
        for url in spellings:
            await redis.xadd(FETCH.reads, {"url": url})
        await wait_for_entries(redis, FETCH.writes, 1)
        await wait_for_status(redis, article_key(article_id(canonical_url(base))), {"fetched"})
        # Let the remaining entries be handled (and dropped) before counting.
        await redis.xadd(FETCH.reads, {"url": hostile.url("gone-marker")})
        await wait_for_status(
            redis, article_key(article_id(hostile.url("gone-marker"))), {"failed"}
        )
    assert await redis.xlen(FETCH.writes) == 1
    assert hostile.state.count("/article") == 1


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("versioned", "page unchanged since the last fetch (HTTP 304 Not Modified)"),
        ("article", "page unchanged since the last fetch (same content)"),  # no validators
    ],
)
async def test_forced_refetch_through_the_api_of_an_unchanged_page_leaves_it_indexed(
    redis: Redis, settings: Settings, hostile: HostileServer, path: str, reason: str
) -> None:
    url = hostile.url(path)
    ident = article_id(url)
    key = article_key(ident)
    async with running(fetch_runner(settings)), api_client(settings) as api:
        await redis.xadd(FETCH.reads, {"url": url})
        await wait_for_status(redis, key, {"fetched"})
        await StatusStore(redis).advance(ident, ArticleStatus.INDEXED)  # as the index stage does
        posted = await api.post("/v1/articles", json={"urls": [url], "force": True})
        assert posted.json()["articles"][0]["status"] == "queued"
        fields = await wait_for_status(redis, key, {"indexed", "skipped", "failed"})
        view = (await api.get(f"/v1/articles/{ident}")).json()
    assert fields["status"] == "indexed"
    assert view["status"] == "indexed"
    assert view["refetch"] == reason
    first, second = (r for r in hostile.state.requests if r.path == f"/{path}")
    assert "If-None-Match" not in first.headers
    if path == "versioned":
        assert second.headers["If-None-Match"] == '"v1"'
        assert second.headers["If-Modified-Since"] == "Mon, 04 Mar 2019 10:00:00 GMT"
    assert await redis.xlen(FETCH.writes) == 1


@pytest.mark.parametrize("outcome", [ArticleStatus.SKIPPED, ArticleStatus.FAILED])
async def test_forced_refetch_after_a_run_that_did_not_end_indexed_flows_downstream(
    redis: Redis, settings: Settings, hostile: HostileServer, outcome: ArticleStatus
) -> None:
    """Forcing is how a user retries an article a later stage gave up on, even when the
    page itself is as it was: it is fetched plainly and passed on again."""
    url = hostile.url("versioned")
    ident = article_id(url)
    key = article_key(ident)
    async with running(fetch_runner(settings)), api_client(settings) as api:
        await redis.xadd(FETCH.reads, {"url": url})
        await wait_for_status(redis, key, {"fetched"})
        await StatusStore(redis).advance(ident, outcome, reason="as a later stage said")
        await api.post("/v1/articles", json={"urls": [url], "force": True})
        await wait_for_entries(redis, FETCH.writes, 2)
        fields = await wait_for_status(redis, key, {"fetched"})
    assert "refetch" not in fields
    assert all("If-None-Match" not in r.headers for r in hostile.state.requests)


async def test_forced_refetch_of_an_unchanged_page_leaves_a_recorded_status_alone(
    redis: Redis, settings: Settings, hostile: HostileServer
) -> None:
    """A plain `XADD ... force 1` does not reset the status: `fetched` (or `indexed`) stays."""
    url = hostile.url("article")
    key = article_key(article_id(url))
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url})
        await wait_for_status(redis, key, {"fetched"})
        await redis.xadd(FETCH.reads, {"url": url, "force": "1"})
        await _wait_until_handled(redis, hostile, "/article", 2)
        assert text_fields(await redis.hgetall(key))["status"] == "fetched"
    assert await redis.xlen(FETCH.writes) == 1


async def test_a_crash_before_the_new_page_is_passed_on_does_not_make_it_look_unchanged(
    redis: Redis, settings: Settings, hostile: HostileServer
) -> None:
    """A plain `XADD … force 1` of a page that has changed; the delivery does its work and
    the process dies before publishing. The redelivery is a new submission (a plain entry
    carries no time of its own) and finds the same new page: it must still pass it on."""
    url = hostile.url("edition?last=2")
    ident = article_id(url)
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url})
        await wait_for_status(redis, article_key(ident), {"fetched"})
    await redis.delete(fetch_lease_key(ident))  # as it lapses after a while
    crashed = fetch_runner(settings)
    async with crashed.lifespan():  # the stage's work, cut off where it would publish
        event = parse_ingest_entry({"url": url, "force": "1"})
        assert await crashed.handler.handle(event, crashed.ctx) is not None
    await redis.delete(fetch_lease_key(ident))  # the dead process's lease lapses
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url, "force": "1"})
        first, second = await wait_for_entries(redis, FETCH.writes, 2)
    assert hostile.state.count("/edition?last=2") == 3
    assert decode_event(first)[0]["content_hash"] != decode_event(second)[0]["content_hash"]


async def _wait_until_handled(
    redis: Redis, hostile: HostileServer, path: str, requests: int
) -> None:
    """Until `path` got `requests` requests and the stage holds no pending entry."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while (
        hostile.state.count(path) < requests
        or (await redis.xpending(FETCH.reads, FETCH.group))["pending"]
    ):
        assert loop.time() < deadline, f"{path} not handled {requests} times"
        await asyncio.sleep(0.05)


async def test_robots_disallow_ends_the_article_failed_with_the_reason(
    redis: Redis, settings: Settings, hostile: HostileServer
) -> None:
    hostile.state.robots = (200, "User-agent: *\nDisallow: /private\n")
    url = hostile.url("private/story")
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url})
        fields = await wait_for_status(redis, article_key(article_id(url)), {"failed"})
    assert fields["error_reason"] == "robots.txt disallows /private/story for newsflow"
    assert hostile.state.count("/private/story") == 0
    (dead,) = [text_fields(d) for d in await wait_for_entries(redis, FETCH.dead_letters, 1)]
    assert dead["reason"] == fields["error_reason"]


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("bomb?encoding=gzip", "failed", "body over 2 MB once decoded"),
        ("big?size=1100000", "failed", "body over 1 MB"),
        ("binary", "skipped", "body is binary data served as HTML"),
        ("loop/a", "failed", "more than 5 redirects"),
        ("flaky?n=100", "failed", "HTTP 500 Internal Server Error (gave up after 2 attempts)"),
    ],
)
async def test_hostile_pages_end_with_a_reason_a_user_understands(
    redis: Redis, settings: Settings, hostile: HostileServer, path: str, status: str, reason: str
) -> None:
    url = hostile.url(path)
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url})
        fields = await wait_for_status(redis, article_key(article_id(url)), {status})
    assert (fields.get("error_reason") or fields.get("reason")) == reason


async def test_a_retry_hint_brings_the_redelivery_forward(
    redis: Redis, redis_server: str, tmp_path: Path, hostile: HostileServer
) -> None:
    """A 500 with no retries in place: the entry is due again after the fetch stage's hint
    (well under a second here), not after claim_idle_ms (30 s here)."""
    settings = fetch_settings(
        redis_server,
        tmp_path,
        [hostile.host_port],
        fetch_retries=0,
        claim_idle_ms=30_000,
        max_deliveries=5,
    )
    url = hostile.url("flaky?n=2")
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url})
        await wait_for_status(redis, article_key(article_id(url)), {"fetched"}, timeout=10)
    assert hostile.state.count("/flaky?n=2") == 3


async def test_one_delivery_is_bounded_waits_included(
    redis: Redis, redis_server: str, tmp_path: Path, hostile: HostileServer
) -> None:
    """A host whose Retry-After keeps the fetch waiting within the in-place limits still
    hands the URL back when the delivery's time is up."""
    settings = fetch_settings(
        redis_server,
        tmp_path,
        [hostile.host_port],
        fetch_delivery_timeout=1.0,
        fetch_retries=5,
        fetch_host_wait=5.0,  # the wait in place is what the delivery's bound cuts short
    )
    url = hostile.url("busy?after=2&n=100")
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url})
        fields = await wait_for_status(redis, article_key(article_id(url)), {"failed"})
    assert fields["error_reason"].endswith("(gave up after 2 attempts)")
    # Unbounded, each delivery would have asked six times, two seconds apart.
    assert hostile.state.count("/busy?after=2&n=100") <= 4
    dead = [text_fields(d) for d in await wait_for_entries(redis, FETCH.dead_letters, 1)]
    assert dead[0]["attempts"] == "2"
