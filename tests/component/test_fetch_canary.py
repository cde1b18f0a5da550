"""The fetch stage, running, is handed internal addresses in every spelling, directly and
through redirects from an allowed server: the canary listener must get no connection."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import pytest
from redis.asyncio import Redis

from shared.streams import FETCH, PARKED, article_key
from shared.urls import InvalidUrl, article_id, canonical_url
from tests.component.fetch_helpers import fetch_runner, fetch_settings
from tests.component.helpers import running, text_fields, wait_for_entries, wait_for_status
from tests.hostile import Canary, HostileServer

pytestmark = pytest.mark.component

SPELLINGS = [
    "http://127.0.0.1:{port}/",
    "http://127.0.0.1.:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f.1:{port}/",
    "http://0x7f000001:{port}/",
    "http://0x7f.0x0.0x0.0x1:{port}/",
    "http://017700000001:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://127.1:{port}/",
    "http://127.0.1:{port}/",
    "http://127.000.000.001:{port}/",
    "http://0:{port}/",
    "http://0.0.0.0:{port}/",
    "http://[::]:{port}/",
    "http://[::1]:{port}/",
    "http://[0:0:0:0:0:0:0:1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[::127.0.0.1]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/",
    "http://[2002:7f00:1::]:{port}/",
    "http://localhost:{port}/",
    "http://LocalHost.:{port}/",
    "http://１２７.０.０.１:{port}/",
    "http://127。0。0。1:{port}/",
    "http://١٢٧.٠.٠.١:{port}/",
    "http://127.0.0.1:{port}@example.com/",
    "http://example.com@127.0.0.1:{port}/",
    "https://127.0.0.1:{port}/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
]
ACCEPTED_REASONS = (
    "address is internal",
    "does not resolve",
    "not a valid name",
    "URL ",  # not a URL newsflow fetches at all (credentials, malformed)
    "redirect to an invalid URL",
)


def _submissions(hostile: HostileServer, port: int) -> list[str]:
    direct = [spelling.format(port=port) for spelling in SPELLINGS]
    via_redirect = [
        hostile.url(f"redirect?code={code}&to={quote(url, safe='')}")
        for code, url in zip([301, 302, 303, 307, 308] * 10, direct, strict=False)
        if url.isascii()
    ]
    return direct + via_redirect


def _article(url: str) -> str | None:
    try:
        return article_id(canonical_url(url))
    except InvalidUrl:
        return None


async def test_no_internal_spelling_or_redirect_reaches_the_canary(
    redis: Redis, redis_server: str, tmp_path: Path, hostile: HostileServer, listener: Canary
) -> None:
    # Every URL fails at once; a long claim idle time keeps a busy machine's redeliveries out
    # of the request counts below.
    settings = fetch_settings(
        redis_server, tmp_path, [hostile.host_port], fetch_retries=0, claim_idle_ms=30_000
    )
    urls = _submissions(hostile, listener.port)
    # Spellings with one canonical form are one article, fetched (and refused) once.
    articles = {_article(url) or url for url in urls}
    async with running(fetch_runner(settings)):
        for url in urls:
            await redis.xadd(FETCH.reads, {"url": url})
        dead = await wait_for_entries(redis, FETCH.dead_letters, len(articles), timeout=30)
    assert listener.connections == 0
    assert await redis.xlen(FETCH.writes) == 0
    reasons = [text_fields(entry)["reason"] for entry in dead]
    for url in urls:
        ident = _article(url)
        if ident is None:
            continue  # refused before it became an article; its dead letter says why
        status = text_fields(await redis.hgetall(article_key(ident)))
        assert status["status"] == "failed", url
        assert status["error_reason"].startswith(ACCEPTED_REASONS), (url, status)
    # Every redirect was answered by the allowed server, then its next hop refused.
    redirects = [u for u in urls if "/redirect?" in u]
    assert sum(1 for r in hostile.state.requests if r.path.startswith("/redirect")) == len(
        redirects
    )
    assert all(r.startswith(ACCEPTED_REASONS) for r in reasons), reasons


async def test_the_canary_counts_a_connection_that_is_allowed(
    redis: Redis, redis_server: str, tmp_path: Path, listener: Canary
) -> None:
    """The control: the same stage reaches the canary once its host:port is allowed.

    The canary drops the connection, so robots.txt counts as unavailable and the URL is
    parked until the site may be asked again."""
    allowed = f"127.0.0.1:{listener.port}"
    url = f"http://{allowed}/"
    settings = fetch_settings(redis_server, tmp_path, [allowed], fetch_retries=0)
    async with running(fetch_runner(settings)):
        await redis.xadd(FETCH.reads, {"url": url})
        fields = await wait_for_status(redis, article_key(article_id(url)), {"queued"})
        while "waiting_reason" not in fields:
            await asyncio.sleep(0.05)
            fields = text_fields(await redis.hgetall(article_key(article_id(url))))
    assert listener.connections >= 1
    assert "robots.txt" in fields["waiting_reason"]
    assert await redis.zcard(PARKED) == 1
