"""URLs set aside until their host can take them, and the mover that puts them back.

A URL whose host cannot be asked soon (its politeness slot is further off than
`fetch_host_wait`, counting the requests of this process already waiting for it, or its
server asked for a wait longer than the stage's redelivery) is parked rather than held:
its ingest entry goes into a sorted set by the time it is due, and the stream entry is
acknowledged, so it spends neither a delivery nor a fetch task, and other hosts' URLs go
ahead. Parked URLs of one host are spaced by the host's interval, so they come back one by
one, as fast as the host may be asked. Every fetch process runs a mover that puts due
entries back on the ingest stream; each move is one Lua script on the server's clock (take
out of the set, add to the stream), so replicas never move one entry twice and nothing is
lost between the two steps.

A URL is parked before its stream entry is acknowledged: a crash in between leaves the entry
pending (it is redelivered) and parked as well. Parked URLs are named by article (and
`force`), so parking one again replaces it, and a fetch that succeeds takes it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from typing import TYPE_CHECKING

import structlog
from faststream.redis.parser.binary import BinaryMessageFormatV1
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from redis.exceptions import RedisError

from services.fetch.politeness import SERVER_NOW_MS
from shared.streams import INGEST, PARKED, PARKED_ENTRIES, fetch_attempts_key, parked_host_key

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from shared.schemas import UrlSubmitted

log = structlog.get_logger("newsflow.fetch")

# KEYS[1] parked set; KEYS[2] parked entries; KEYS[3] the host's last due time.
# ARGV[1] name; ARGV[2] ingest entry; ARGV[3] least wait ms; ARGV[4] host interval ms.
# Returns ms until the URL is due.
_PARK = (
    SERVER_NOW_MS
    + """
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
local due = math.max(now + tonumber(ARGV[3]), last + tonumber(ARGV[4]))
redis.call('ZADD', KEYS[1], due, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('SET', KEYS[3], due, 'PX', due - now + 60000)
return due - now
"""
)

# KEYS[1] parked set; KEYS[2] parked entries; KEYS[3] the ingest stream; ARGV[1] most to move.
_MOVE = (
    SERVER_NOW_MS
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, name in ipairs(due) do
  local entry = redis.call('HGET', KEYS[2], name)
  redis.call('ZREM', KEYS[1], name)
  redis.call('HDEL', KEYS[2], name)
  if entry then redis.call('XADD', KEYS[3], '*', '__data__', entry) end
end
return #due
"""
)

MOVE_BATCH = 100
_TRACE = TraceContextTextMapPropagator()


def parked_name(event: UrlSubmitted) -> str:
    """One parked entry per article, and one more for a forced re-fetch of it."""
    return f"{event.article_id}:force" if event.force else event.article_id


class ParkingLot:
    """Parks URLs in Redis until due and moves them back; shared by every fetch process."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._park = redis.register_script(_PARK)
        self._move = redis.register_script(_MOVE)

    async def park(self, event: UrlSubmitted, *, host: str, wait: float, interval: float) -> float:
        """Set `event` aside for at least `wait` s, and at least `interval` after the URL
        parked last for `host`. Returns the seconds until it is due.

        The entry carries the current trace context, so the article's trace goes on.
        """
        headers = {"content-type": "application/json"}
        _TRACE.inject(headers)
        entry = await BinaryMessageFormatV1.encode(
            message=event.model_dump_json().encode(),
            reply_to=None,
            headers=headers,
            correlation_id=uuid.uuid4().hex,
        )
        due_ms = await self._park(
            keys=[PARKED, PARKED_ENTRIES, parked_host_key(host)],
            args=[parked_name(event), entry, math.ceil(wait * 1000), math.ceil(interval * 1000)],
        )
        return int(due_ms) / 1000

    async def count_attempt(self, article_id: str, *, ttl: int) -> int:
        """One more failed attempt to fetch this article; returns how many so far."""
        key = fetch_attempts_key(article_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, ttl)
            count, _ = await pipe.execute()
        return int(count)

    async def forget(self, event: UrlSubmitted) -> None:
        """The article is done with: no parked copy of it, no count of its attempts."""
        name = parked_name(event)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(PARKED, name)
            pipe.hdel(PARKED_ENTRIES, name)
            pipe.delete(fetch_attempts_key(event.article_id))
            await pipe.execute()

    async def move_due(self, limit: int = MOVE_BATCH) -> int:
        """Put up to `limit` due URLs back on the ingest stream; returns how many."""
        return int(await self._move(keys=[PARKED, PARKED_ENTRIES, INGEST], args=[limit]))

    async def run_mover(self, every: float, stopping: asyncio.Event) -> None:
        """Move due URLs back, looking every `every` seconds, until `stopping` is set.

        Stopping between moves, not by cancelling one, leaves no Redis reply half read.
        """
        while not stopping.is_set():
            try:
                moved = await self.move_due()
            except RedisError as exc:
                log.warning("could not move parked URLs", error=str(exc))
                moved = 0
            if moved:
                log.debug("parked URLs due", moved=moved)
            if moved < MOVE_BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=every)
