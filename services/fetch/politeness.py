"""Per-host request slots shared by every fetch process through Redis.

A host is sent one request at a time: a request holds its host's slot until the response's
headers arrive, and the next request starts at least an interval after that moment, so the
host sees requests no closer than the interval. A slow body does not hold the host (the
whole-response deadline bounds it). Each host's state is a Redis hash: `free`, the first
moment another request may start, and `holder`, the request being sent with the moment its
hold lapses (should its process die). Taking and releasing are Lua scripts on the server's
clock, so replicas whose clocks disagree share one schedule, and a slot is only granted for
"now", so a caller that wakes late cannot shorten the gap at the host.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from shared.errors import RetryableError
from shared.streams import host_slot_key

if TYPE_CHECKING:
    from redis.asyncio import Redis

# The Redis server's clock in ms, as `now`, for scripts that share one schedule.
SERVER_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] host hash; ARGV[1] token; ARGV[2] longest hold ms.
# Returns {1, 0} when granted, {0, ms until free} when waiting for the interval, {0, -1}
# while another request to the host is in flight.
_TAKE = (
    SERVER_NOW_MS
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
    SERVER_NOW_MS
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
    SERVER_NOW_MS
    + """
local free = math.max(tonumber(redis.call('HGET', KEYS[1], 'free') or '0'), now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'free', free)
redis.call('PEXPIRE', KEYS[1], free - now + 600000)
return 1
"""
)

_POLL = 0.05  # seconds between looks at a host whose request is in flight
_RANDOM = random.SystemRandom()


class HostBusy(RetryableError):
    """A host's slot cannot be had soon enough: politeness, not a fault of the page.

    `retry_after` is when the slot is expected free; `interval` the gap the host is owed
    between requests, so URLs set aside for it can be spaced out.
    """

    def __init__(self, host: str, *, retry_after: float, interval: float, reason: str) -> None:
        super().__init__(reason, retry_after=retry_after)
        self.host = host
        self.interval = interval


class HeldSlot:
    """A host's slot held for one request; `release` once the response has begun."""

    def __init__(self, slots: HostSlots, host: str, token: str, interval: float) -> None:
        self._slots = slots
        self._host = host
        self._token = token
        self._interval = interval
        self._released = False

    async def release(self) -> None:
        if not self._released:
            self._released = True
            await self._slots._give_back(self._host, self._token, self._interval)


class HostSlots:
    """One request per host at a time, spaced by the host's interval, across all replicas."""

    def __init__(self, redis: Redis, *, hold: float, short_queues: bool = False) -> None:
        """`hold`: the longest a request may keep its host before the slot lapses.

        `short_queues`: a request of this process joins the others already waiting for its
        host only if the host's interval lets it through within `max_wait`; otherwise it
        raises `HostBusy` at once, so a batch of one site's URLs cannot fill every fetch task
        of a process.
        """
        self._take = redis.register_script(_TAKE)
        self._release = redis.register_script(_RELEASE)
        self._defer = redis.register_script(_DEFER)
        self._hold_ms = math.ceil(hold * 1000)
        self._short_queues = short_queues
        self._waiting: Counter[str] = Counter()

    async def try_take(self, host: str, token: str) -> float | None:
        """None when the slot was taken for `token`, else seconds until worth asking again."""
        taken, wait_ms = await self._take(keys=[host_slot_key(host)], args=[token, self._hold_ms])
        if taken:
            return None
        return _POLL if int(wait_ms) < 0 else int(wait_ms) / 1000

    @asynccontextmanager
    async def slot(
        self, host: str, interval: float, max_wait: float, *, behind_others: bool = False
    ) -> AsyncIterator[HeldSlot]:
        """Hold `host`'s slot for one request; release it when the response begins.

        Raises `HostBusy` when it cannot be had within `max_wait`. `behind_others` waits
        even when another request of this process already does (a redirect's next hop, whose
        first hop is spent already; robots.txt). Leaving the block releases the slot if the
        caller has not.
        """
        token = uuid.uuid4().hex
        wait = await self.try_take(host, token)
        if wait is not None:
            ahead = self._waiting[host]
            if (
                self._short_queues
                and ahead
                and not behind_others
                and wait + ahead * interval > max_wait
            ):
                raise HostBusy(
                    host,
                    retry_after=wait,
                    interval=interval,
                    reason=f"host {host} is busy: {ahead} requests of this process wait for it",
                )
            self._waiting[host] += 1
            try:
                await self._wait_for(host, token, wait, interval, max_wait)
            finally:
                self._waiting[host] -= 1
                if not self._waiting[host]:
                    del self._waiting[host]
        held = HeldSlot(self, host, token, interval)
        try:
            yield held
        finally:
            await held.release()

    async def _wait_for(
        self, host: str, token: str, wait: float, interval: float, max_wait: float
    ) -> None:
        """Poll until the slot is taken for `token`; `HostBusy` once past `max_wait`."""
        started = time.monotonic()
        while True:
            waited = time.monotonic() - started
            if waited + wait > max_wait:
                raise HostBusy(
                    host,
                    retry_after=max(wait, _POLL),
                    interval=interval,
                    reason=f"host {host} is busy: no request slot within {max_wait:g} s",
                )
            # A little jitter so callers waiting for one host do not all ask at once.
            await asyncio.sleep(wait + _RANDOM.uniform(0, 0.01))
            next_wait = await self.try_take(host, token)
            if next_wait is None:
                return
            wait = next_wait

    async def _give_back(self, host: str, token: str, interval: float) -> None:
        await self._release(keys=[host_slot_key(host)], args=[token, math.ceil(interval * 1000)])

    async def defer(self, host: str, seconds: float) -> None:
        """Ask no replica to contact `host` for `seconds` (a server's Retry-After)."""
        await self._defer(keys=[host_slot_key(host)], args=[math.ceil(seconds * 1000)])

    async def next_free(self, host: str) -> float:
        """Seconds until `host` may be asked again (0 when it may be now)."""
        wait = await self.try_take(host, "")
        if wait is None:  # taken for nobody: give it straight back
            await self._give_back(host, "", 0)
            return 0.0
        return wait
