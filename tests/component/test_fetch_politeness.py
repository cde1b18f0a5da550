"""robots.txt, per-host slots shared through Redis, and a resolver that changes its answer.

Real HTTP on 127.0.0.1 and a real Valkey; robots files in every mode RFC 9309 names.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from services.fetch import guard as guard_module
from services.fetch.fetcher import FetchedPage
from services.fetch.robots import origin_of
from shared.errors import PermanentError, RetryableError
from shared.streams import robots_key
from tests.component.fetch_helpers import Fetch, fetch_settings, fetcher
from tests.hostile import Canary, HostileServer

pytestmark = pytest.mark.component


async def test_disallowed_path_fails_with_the_reason_and_robots_is_fetched_once(
    fetch: Fetch, hostile: HostileServer, redis: Redis
) -> None:
    hostile.state.robots = (200, "User-agent: *\nDisallow: /private\n")
    with pytest.raises(PermanentError, match=r"robots\.txt disallows /private/page for newsflow"):
        await fetch(hostile.url("private/page"))
    assert isinstance(await fetch(hostile.url("article")), FetchedPage)
    assert hostile.state.count("/private/page") == 0
    assert hostile.state.count("/robots.txt") == 1
    ttl = await redis.ttl(robots_key(origin_of(hostile.url("/"))))
    assert 0 < ttl <= fetch.settings.fetch_robots_ttl


async def test_a_group_for_our_product_token_wins_over_star(
    fetch: Fetch, hostile: HostileServer
) -> None:
    hostile.state.robots = (200, "User-agent: newsflow\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    with pytest.raises(PermanentError, match=r"robots\.txt disallows /article"):
        await fetch(hostile.url("article"))


@pytest.mark.parametrize("code", [401, 403, 404, 410])
async def test_a_4xx_robots_file_allows_everything(
    fetch: Fetch, hostile: HostileServer, code: int
) -> None:
    hostile.state.robots = (code, "User-agent: *\nDisallow: /\n")
    assert isinstance(await fetch(hostile.url("private/page")), FetchedPage)


@pytest.mark.parametrize("code", [500, 503, 429])
async def test_a_5xx_robots_file_disallows_the_site_for_a_while(
    fetch: Fetch, hostile: HostileServer, redis: Redis, code: int
) -> None:
    hostile.state.robots = (code, "")
    for _ in range(2):
        with pytest.raises(RetryableError, match=rf"robots.txt .* unavailable \(HTTP {code}\)"):
            await fetch(hostile.url("article"))
    assert hostile.state.count("/article") == 0
    assert hostile.state.count("/robots.txt") == 1  # the verdict is cached
    ttl = await redis.ttl(robots_key(origin_of(hostile.url("/"))))
    assert 0 < ttl <= fetch.settings.fetch_robots_error_ttl


async def test_robots_redirected_to_an_internal_address_is_not_followed(
    fetch: Fetch, hostile: HostileServer, listener: Canary
) -> None:
    hostile.state.robots = (301, f"http://127.0.0.1:{listener.port}/robots.txt")
    assert isinstance(await fetch(hostile.url("article")), FetchedPage)
    assert listener.connections == 0


async def test_robots_redirects_are_followed(fetch: Fetch, hostile: HostileServer) -> None:
    hostile.state.robots = (302, hostile.url("moved-robots"))
    with pytest.raises(PermanentError, match=r"robots\.txt disallows /article"):
        await fetch(hostile.url("article"))
    assert hostile.state.count("/moved-robots") == 1


async def test_an_unreachable_robots_file_disallows(fetch: Fetch, hostile: HostileServer) -> None:
    hostile.state.robots_delay = 3.0  # longer than fetch_total_timeout
    with pytest.raises(RetryableError, match=r"unavailable \(no answer"):
        await fetch(hostile.url("article"))
    assert hostile.state.count("/article") == 0


async def test_robots_can_be_turned_off(
    redis: Redis, redis_server: str, tmp_path: Path, hostile: HostileServer
) -> None:
    hostile.state.robots = (200, "User-agent: *\nDisallow: /\n")
    settings = fetch_settings(redis_server, tmp_path, [hostile.host_port], fetch_robots=False)
    async with fetcher(settings, redis) as fetch:
        assert isinstance(await fetch(hostile.url("article")), FetchedPage)
    assert hostile.state.count("/robots.txt") == 0


def _gaps(hostile: HostileServer, prefix: str) -> list[float]:
    times = sorted(r.at for r in hostile.state.requests if r.path.startswith(prefix))
    return [b - a for a, b in itertools.pairwise(times)]


async def test_crawl_delay_spaces_requests(fetch: Fetch, hostile: HostileServer) -> None:
    hostile.state.robots = (200, "User-agent: *\nCrawl-delay: 0.4\n")
    await asyncio.gather(*(fetch(hostile.url(f"article?n={i}")) for i in range(4)))
    assert hostile.state.count("/robots.txt") == 1  # four at once shared one download
    gaps = _gaps(hostile, "/article")
    assert len(gaps) == 3
    assert min(gaps) >= 0.4


async def test_host_interval_holds_across_replicas(
    redis_server: str, tmp_path: Path, hostile: HostileServer, redis: Redis
) -> None:
    """Two fetchers with their own clients and Redis connections share only Redis."""
    settings = fetch_settings(redis_server, tmp_path, [hostile.host_port], fetch_host_interval=0.25)
    second_redis: Redis = Redis.from_url(redis_server)
    try:
        async with fetcher(settings, redis) as one, fetcher(settings, second_redis) as two:
            await asyncio.gather(
                *(f(hostile.url(f"article?r={i}")) for i in range(4) for f in (one, two))
            )
    finally:
        await second_redis.aclose()
    gaps = _gaps(hostile, "/article")
    assert len(gaps) == 7
    assert min(gaps) >= 0.25


async def test_the_next_request_waits_for_the_previous_response_and_then_the_interval(
    redis_server: str, tmp_path: Path, hostile: HostileServer, redis: Redis
) -> None:
    settings = fetch_settings(redis_server, tmp_path, [hostile.host_port], fetch_host_interval=0.2)
    async with fetcher(settings, redis) as fetch:
        slow = asyncio.create_task(fetch(hostile.url("delay?s=0.6")))
        while hostile.state.count("/delay?s=0.6") == 0:
            await asyncio.sleep(0.01)
        await fetch(hostile.url("article"))
        await slow
    (slow_request,) = [r for r in hostile.state.requests if r.path.startswith("/delay")]
    (quick_request,) = [r for r in hostile.state.requests if r.path == "/article"]
    assert quick_request.at - slow_request.at >= 0.6 + 0.2


async def test_a_slow_body_does_not_hold_its_host(
    redis_server: str, tmp_path: Path, hostile: HostileServer, redis: Redis
) -> None:
    """The drip-fed body runs to the 2 s deadline; the host is free once its headers came."""
    settings = fetch_settings(redis_server, tmp_path, [hostile.host_port], fetch_host_interval=0.2)
    async with fetcher(settings, redis) as fetch:
        slow = asyncio.create_task(fetch(hostile.url("slow")))
        while hostile.state.count("/slow") == 0:
            await asyncio.sleep(0.01)
        await fetch(hostile.url("article"))
        assert not slow.done()
        with pytest.raises(PermanentError, match="took longer than"):
            await slow
    (slow_request,) = [r for r in hostile.state.requests if r.path == "/slow"]
    (quick_request,) = [r for r in hostile.state.requests if r.path == "/article"]
    assert quick_request.at - slow_request.at >= 0.2


async def test_a_slot_too_far_away_is_not_taken(fetch: Fetch, hostile: HostileServer) -> None:
    await fetch.slots.defer("127.0.0.1", 30)
    with pytest.raises(RetryableError, match=r"host 127\.0\.0\.1 is busy") as excinfo:
        await fetch(hostile.url("article"))
    assert excinfo.value.retry_after is not None
    assert 25 < excinfo.value.retry_after <= 30
    assert hostile.state.requests == []


async def test_the_host_is_resolved_once_and_the_checked_address_is_connected(
    redis: Redis,
    redis_server: str,
    tmp_path: Path,
    listener: Canary,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the first answer passes the check, a second one would be internal.

    127.0.0.2 stands in for a public address; nothing listens there on the canary's port.
    """
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    answers = iter(["127.0.0.2", "127.0.0.1", "127.0.0.1", "127.0.0.1"])
    asked: list[str] = []

    async def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return await real(host, port, *args, **kwargs)
        address = next(answers)
        asked.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    monkeypatch.setattr(guard_module, "is_public_address", lambda a: a == "127.0.0.2")
    settings = fetch_settings(redis_server, tmp_path, [], fetch_robots=False)
    async with fetcher(settings, redis) as fetch:
        with pytest.raises(PermanentError, match=r"address is internal: rebind\.test resolves to"):
            await fetch(f"http://rebind.test:{listener.port}/")
    assert listener.connections == 0
    assert asked[0] == "127.0.0.2"
