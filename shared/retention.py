"""Stream retention and backpressure.

Streams are trimmed only below what every consumer group on them has acknowledged
(`XTRIM MINID`), never by length: `MAXLEN` would drop unread and pending entries silently.
Memory is protected instead by refusing new work at the door while the pipeline's backlog
is over its limit (the API answers 429 with Retry-After).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from shared.redis_values import as_text, stream_id_order
from shared.streams import PARKED, STAGES


def _next_id(entry_id: str) -> str:
    millis, seq = stream_id_order(entry_id)
    return f"{millis}-{seq + 1}"


async def safe_trim_point(redis: Redis, stream: str) -> str | None:
    """The smallest id some group still needs, or None when the stream has no groups.

    A group needs its oldest pending entry and everything after its last-delivered id.
    """
    groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    if not groups:
        return None
    needed = []
    for group in groups:
        name = as_text(group["name"])
        if int(group.get("pending", 0)):
            summary = await redis.xpending(stream, name)
            needed.append(as_text(summary["min"]))
        else:
            needed.append(_next_id(as_text(group["last-delivered-id"])))
    return min(needed, key=stream_id_order)


async def trim_acknowledged(redis: Redis, stream: str) -> int:
    """Delete entries every group has acknowledged; returns how many were removed."""
    if not await redis.exists(stream):
        return 0
    point = await safe_trim_point(redis, stream)
    if point is None:
        return 0
    return int(await redis.xtrim(stream, minid=point, approximate=False))


async def backlog(redis: Redis, stream: str, group: str) -> int:
    """Entries in `stream` that `group` has not finished: not yet delivered, plus pending."""
    if not await redis.exists(stream):
        return 0
    for info in await redis.xinfo_groups(stream):
        if as_text(info["name"]) == group:
            lag = info.get("lag")
            waiting = int(lag) if lag is not None else int(await redis.xlen(stream))
            return waiting + int(info.get("pending", 0))
    return int(await redis.xlen(stream))


async def pipeline_backlog(redis: Redis) -> int:
    """Articles waiting anywhere in the pipeline: the sum of every stage's backlog.

    Counting only the ingest stream would let a stalled later stage (say extract) fill
    memory with cleaned text while fetch keeps the ingest backlog short. URLs the fetch
    stage parked until their host is free are waiting too.
    """
    total = int(await redis.zcard(PARKED))
    for stage in STAGES.values():
        total += await backlog(redis, stage.reads, stage.group)
    return total


async def remove_idle_consumers(
    redis: Redis, stream: str, group: str, *, idle_ms: int, keep: str
) -> list[str]:
    """Delete consumers idle longer than `idle_ms` that hold no pending entries.

    A consumer with pending entries is left for the reclaimer to empty first; `keep` (this
    process's own consumer) is never removed.
    """
    if not await redis.exists(stream):
        return []
    removed = []
    for consumer in await redis.xinfo_consumers(stream, group):
        name = as_text(consumer["name"])
        if name == keep or int(consumer.get("pending", 0)) or int(consumer["idle"]) < idle_ms:
            continue
        # DELCONSUMER would drop entries it still held; recheck right before deleting.
        if await redis.xpending_range(stream, group, "-", "+", 1, consumername=name):
            continue
        await redis.xgroup_delconsumer(stream, group, name)
        removed.append(name)
    return removed
