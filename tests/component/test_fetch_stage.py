"""The fetch stage against a real Valkey server and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from shared.pages import load_html
from shared.settings import Settings
from shared.streams import FETCH, article_key
from shared.urls import article_id, canonical_url
from tests.component.fetch_helpers import fetch_runner
from tests.component.helpers import (
    decode_event,
    running,
    text_fields,
    wait_for_entries,
    wait_for_status,
)
from tests.conftest import PageServer

pytestmark = pytest.mark.component


async def test_plain_xadd_is_fetched_and_stored_once(
    redis: Redis, settings: Settings, page_server: PageServer
) -> None:
    url = page_server.url("tass-2019-lavrov-rovaniemi.html")
    # Added before the stage starts: the group must be created at 0 to see it.
    await redis.xadd(FETCH.reads, {"url": url})
    async with running(fetch_runner(settings)):
        (entry,) = await wait_for_entries(redis, FETCH.writes, 1)
    body, headers = decode_event(entry)
    assert body["article_id"] == article_id(canonical_url(url))
    assert body["status_code"] == 200
    assert "traceparent" in headers
    html = await load_html(redis, body["html_key"])
    assert "Lavrov confident Putin and Trump" in html
    status = text_fields(await redis.hgetall(article_key(body["article_id"])))
    assert status["status"] == "fetched"
    assert float(status["fetch_ms"]) > 0
    assert await redis.xpending(FETCH.reads, FETCH.group) == {
        "pending": 0, "min": None, "max": None, "consumers": []
    }  # fmt: skip


async def test_same_url_twice_is_fetched_once(
    redis: Redis, settings: Settings, page_server: PageServer
) -> None:
    url = page_server.url("eirns-2019-lavrov-pompeo-finland.html")
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url})
        await wait_for_entries(redis, FETCH.writes, 1)
        await redis.xadd(FETCH.reads, {"url": url + "#comments"})
        await redis.xadd(FETCH.reads, {"url": page_server.url("gone")})
        await wait_for_status(redis, article_key(article_id(page_server.url("gone"))), {"failed"})
    assert await redis.xlen(FETCH.writes) == 1


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("gone", "failed", "HTTP 404"),
        ("not-html.pdf", "skipped", "content type application/pdf is not HTML"),
    ],
)
async def test_unfetchable_pages_end_with_a_reason(
    redis: Redis, settings: Settings, page_server: PageServer, path: str, status: str, reason: str
) -> None:
    url = page_server.url(path)
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url})
        fields = await wait_for_status(redis, article_key(article_id(url)), {status})
    assert reason in (fields.get("error_reason") or fields.get("reason") or "")
    assert await redis.xlen(FETCH.writes) == 0
    dead = await redis.xlen(FETCH.dead_letters)
    assert dead == (1 if status == "failed" else 0)


async def test_internal_addresses_are_refused_on_every_hop(
    redis: Redis, settings: Settings, page_server: PageServer
) -> None:
    # The page server is allowed; a redirect from it to another loopback port is not.
    canary = "127.0.0.1:9"
    direct = "http://127.0.0.2:8080/admin"
    via_redirect = page_server.url(f"redirect?to=http://{canary}/secret")
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": direct})
        await redis.xadd(FETCH.reads, {"url": via_redirect})
        for url in (direct, via_redirect):
            fields = await wait_for_status(
                redis, article_key(article_id(canonical_url(url))), {"failed"}
            )
            assert fields["error_reason"].startswith("address is internal")
            assert fields["error_stage"] == "fetch"
    dead = [text_fields(f) for f in await wait_for_entries(redis, FETCH.dead_letters, 2)]
    assert {d["stage"] for d in dead} == {"fetch"}
    assert all("address is internal" in d["reason"] for d in dead)
    assert all(d["payload"] for d in dead)
