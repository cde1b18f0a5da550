"""Per-host request slots shared by every fetch process through Redis.

Each host has a "next free" time in Redis. Taking a slot is one Lua script that reads the
server's clock, so replicas on machines whose clocks disagree still space their requests:
the caller gets the time to wait before its request, and the host's next free time moves one
interval further. A slot further away than the caller will wait is not taken at all.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.errors import RetryableError
from shared.streams import host_slot_key

if TYPE_CHECKING:
    from redis.asyncio import Redis

# KEYS[1] host slot; ARGV[1] interval ms; ARGV[2] longest acceptable wait ms.
# Returns {1, wait_ms} when a slot was taken, {0, wait_ms} when it is too far away.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, free)
local wait = slot - now
if wait > tonumber(ARGV[2]) then return {0, wait} end
local interval = tonumber(ARGV[1])
redis.call('SET', KEYS[1], slot + interval, 'PX', wait + interval + 1000)
return {1, wait}
"""

# KEYS[1] host slot; ARGV[1] ms from now before the host may be asked again (Retry-After).
_DEFER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > free then redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 1000) end
return 1
"""


@dataclass(frozen=True, slots=True)
class Slot:
    taken: bool
    wait: float
    """Seconds until the slot (taken) or until the host's next free time (not taken)."""


class HostSlots:
    """Spaces requests to each host by at least its interval, across all replicas."""

    def __init__(self, redis: Redis) -> None:
        self._take = redis.register_script(_TAKE)
        self._defer = redis.register_script(_DEFER)

    async def take(self, host: str, interval: float, max_wait: float) -> Slot:
        taken, wait_ms = await self._take(
            keys=[host_slot_key(host)],
            args=[math.ceil(interval * 1000), math.floor(max_wait * 1000)],
        )
        return Slot(bool(taken), int(wait_ms) / 1000)

    async def acquire(self, host: str, interval: float, max_wait: float) -> float:
        """Take a slot and sleep until it comes; returns the seconds slept.

        Raises `RetryableError` (with `retry_after`) when the slot is beyond `max_wait`.
        """
        slot = await self.take(host, interval, max_wait)
        if not slot.taken:
            raise RetryableError(
                f"host {host} is busy: its next request is allowed in {slot.wait:.0f} s",
                retry_after=slot.wait,
            )
        if slot.wait > 0:
            await asyncio.sleep(slot.wait)
        return slot.wait

    async def defer(self, host: str, seconds: float) -> None:
        """Ask no replica to contact `host` for `seconds` (a server's Retry-After)."""
        await self._defer(keys=[host_slot_key(host)], args=[math.ceil(seconds * 1000)])
