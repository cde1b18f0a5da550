"""Per-host request slots shared by every fetch process through Redis.

A host has one request in flight at a time, and the next one starts at least an interval
after the previous one ended (as Nutch and StormCrawler measure it). Each host's state is a
Redis hash: `free`, the first moment another request may start, and `holder`, the request
in flight with the moment its hold lapses (should its process die). Taking and releasing are
Lua scripts that read the server's clock, so replicas whose clocks disagree share one
schedule, and a slot is only ever granted for "now", so a caller that wakes late cannot
shorten the gap at the host.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from shared.errors import RetryableError
from shared.streams import host_slot_key

if TYPE_CHECKING:
    from redis.asyncio import Redis

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] host hash; ARGV[1] token; ARGV[2] longest hold ms.
# Returns {1, 0} when granted, {0, ms until free} when waiting for the interval, {0, -1}
# while another request to the host is in flight.
_TAKE = (
    _NOW
    + """
local holder_until = tonumber(redis.call('HGET', KEYS[1], 'holder_until') or '0')
if now < holder_until then return {0, -1} end
local free = tonumber(redis.call('HGET', KEYS[1], 'free') or '0')
if now < free then return {0, free - now} end
local hold = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'holder_until', now + hold)
redis.call('PEXPIRE', KEYS[1], hold + 600000)
return {1, 0}
"""
)

# KEYS[1] host hash; ARGV[1] token; ARGV[2] interval ms. Only the holder releases.
_RELEASE = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'holder') ~= ARGV[1] then return 0 end
local free = math.max(tonumber(redis.call('HGET', KEYS[1], 'free') or '0'), now + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'free', free)
redis.call('HDEL', KEYS[1], 'holder', 'holder_until')
redis.call('PEXPIRE', KEYS[1], math.max(free - now, 0) + 600000)
return 1
"""
)

# KEYS[1] host hash; ARGV[1] ms from now before the host may be asked again (Retry-After).
_DEFER = (
    _NOW
    + """
local free = math.max(tonumber(redis.call('HGET', KEYS[1], 'free') or '0'), now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'free', free)
redis.call('PEXPIRE', KEYS[1], free - now + 600000)
return 1
"""
)

_POLL = 0.05  # seconds between looks at a host whose request is in flight
_RANDOM = random.SystemRandom()


class HostSlots:
    """One request per host at a time, spaced by the host's interval, across all replicas."""

    def __init__(self, redis: Redis, *, hold: float) -> None:
        """`hold`: the longest a request may keep its host before the slot lapses."""
        self._take = redis.register_script(_TAKE)
        self._release = redis.register_script(_RELEASE)
        self._defer = redis.register_script(_DEFER)
        self._hold_ms = math.ceil(hold * 1000)

    async def try_take(self, host: str, token: str) -> float | None:
        """None when the slot was taken for `token`, else seconds until worth asking again."""
        taken, wait_ms = await self._take(keys=[host_slot_key(host)], args=[token, self._hold_ms])
        if taken:
            return None
        return _POLL if int(wait_ms) < 0 else int(wait_ms) / 1000

    @asynccontextmanager
    async def slot(self, host: str, interval: float, max_wait: float) -> AsyncIterator[float]:
        """Hold `host`'s slot for one request; yields the seconds waited for it.

        Raises `RetryableError` (with `retry_after`) when it cannot be had within `max_wait`.
        """
        token = uuid.uuid4().hex
        started = time.monotonic()
        while (wait := await self.try_take(host, token)) is not None:
            waited = time.monotonic() - started
            if waited + wait > max_wait:
                raise RetryableError(
                    f"host {host} is busy: no request slot within {max_wait:g} s",
                    retry_after=max(wait, _POLL),
                )
            # A little jitter so callers waiting for one host do not all ask at once.
            await asyncio.sleep(wait + _RANDOM.uniform(0, 0.01))
        try:
            yield time.monotonic() - started
        finally:
            await self._release(
                keys=[host_slot_key(host)], args=[token, math.ceil(interval * 1000)]
            )

    async def defer(self, host: str, seconds: float) -> None:
        """Ask no replica to contact `host` for `seconds` (a server's Retry-After)."""
        await self._defer(keys=[host_slot_key(host)], args=[math.ceil(seconds * 1000)])

    async def next_free(self, host: str) -> float:
        """Seconds until `host` may be asked again (0 when it may be now)."""
        wait = await self.try_take(host, "")
        if wait is None:  # taken for nobody: give it straight back
            await self._release(keys=[host_slot_key(host)], args=["", 0])
            return 0.0
        return wait
