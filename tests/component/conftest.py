"""Fixtures the fetch stage's component tests share: a hostile HTTP server, a canary
listener that counts connections, and a fetcher allowed to reach the hostile server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.component.fetch_helpers import Fetch, fetch_settings, fetcher
from tests.hostile import Canary, HostileServer, canary, hostile_server


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with hostile_server() as server:
        yield server


@pytest.fixture
def listener() -> Iterator[Canary]:
    with canary() as c:
        yield c


@pytest.fixture
async def fetch(
    redis: Redis, redis_server: str, tmp_path: Path, hostile: HostileServer
) -> AsyncIterator[Fetch]:
    settings = fetch_settings(redis_server, tmp_path, [hostile.host_port])
    async with fetcher(settings, redis) as f:
        yield f
