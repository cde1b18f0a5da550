"""Settings and wiring for fetch tests against the hostile server and a real Valkey."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from services.fetch.fetcher import FetchedPage, NotModified, Validators, fetch_page
from services.fetch.politeness import HostSlots
from services.fetch.robots import Robots
from services.fetch.transport import build_client
from services.fetch.worker import create_handler
from shared.schemas import UrlSubmitted
from shared.settings import Settings
from shared.streams import FETCH
from shared.worker import StageRunner


def fetch_runner(settings: Settings) -> StageRunner[UrlSubmitted]:
    """The fetch stage as it runs in a worker, with these settings."""
    return StageRunner(FETCH, settings, create_handler(settings))


def fetch_settings(redis_url: str, data_dir: Path, allow: list[str], **overrides: Any) -> Settings:
    """Small limits so every defence shows within a second or two."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "data_dir": data_dir,
        "fetch_allow": allow,
        "claim_idle_ms": 1000,
        "max_deliveries": 2,
        "fetch_connect_timeout": 2.0,
        "fetch_read_timeout": 1.0,
        "fetch_total_timeout": 2.0,
        "fetch_max_bytes": 1024 * 1024,
        "fetch_max_decoded_bytes": 2 * 1024 * 1024,
        "fetch_host_interval": 0.0,
        "fetch_max_wait": 5.0,
        "fetch_backoff_base": 0.05,
        "fetch_retries": 2,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@dataclass
class Fetch:
    settings: Settings
    client: httpx.AsyncClient
    slots: HostSlots
    robots: Robots

    async def __call__(
        self, url: str, validators: Validators | None = None, deadline: float | None = None
    ) -> FetchedPage | NotModified:
        return await fetch_page(
            url,
            self.client,
            self.settings,
            robots=self.robots if self.settings.fetch_robots else None,
            slots=self.slots,
            validators=validators,
            deadline=deadline,
        )


@asynccontextmanager
async def fetcher(settings: Settings, redis: Redis) -> AsyncIterator[Fetch]:
    async with build_client(settings) as client:
        slots = HostSlots(redis, hold=settings.fetch_total_timeout)
        yield Fetch(settings, client, slots, Robots(redis, client, slots, settings))
