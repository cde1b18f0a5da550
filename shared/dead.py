"""Dead letters: list, show, replay and purge what a stage gave up on.

A dead letter's id is `<stage>:<entry id>`, e.g. `fetch:1795430544078-1`. Replaying puts the
original payload back on the stage's input stream (with FastStream's envelope, so nested
events survive), starts the article's status over, and then deletes the dead letter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from faststream.redis.parser.binary import BinaryMessageFormatV1
from redis.asyncio import Redis

from shared.errors import PermanentError
from shared.redis_values import as_text, stream_id_order
from shared.status import StatusStore
from shared.streams import FETCH, PARKED, STAGES, Stage

Entries = list[tuple[bytes, dict[bytes, bytes]]]


class UnknownDeadLetter(PermanentError):
    """No dead letter has that id."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    stage: str
    article_id: str | None
    reason: str
    error: str
    attempts: int
    failed_at: float | None
    trace_id: str | None
    payload: Any


def _dead_letter(stage: Stage, entry_id: bytes | str, raw: dict[Any, Any]) -> DeadLetter:
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    try:
        payload = json.loads(fields.get("payload", "null"))
    except ValueError:
        payload = fields.get("payload")
    return DeadLetter(
        id=f"{stage.name}:{as_text(entry_id)}",
        stage=stage.name,
        article_id=fields.get("article_id") or None,
        reason=fields.get("reason", ""),
        error=fields.get("error", ""),
        attempts=int(fields.get("attempts") or 0),
        failed_at=float(fields["failed_at"]) if fields.get("failed_at") else None,
        trace_id=fields.get("trace_id") or None,
        payload=payload,
    )


def _parse_id(dead_id: str) -> tuple[Stage, str]:
    stage_name, _, entry_id = dead_id.partition(":")
    if stage_name not in STAGES or not entry_id:
        raise UnknownDeadLetter(f"{dead_id!r} is not a dead letter id (<stage>:<entry id>)")
    return STAGES[stage_name], entry_id


class DeadLetters:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def list(self, stage: str | None = None, limit: int = 50) -> list[DeadLetter]:
        """Newest first, across the named stage or every stage."""
        if stage is not None and stage not in STAGES:
            raise UnknownDeadLetter(f"no stage named {stage!r}; stages: {', '.join(STAGES)}")
        stages = [STAGES[stage]] if stage else list(STAGES.values())
        letters: list[tuple[str, DeadLetter]] = []
        for each in stages:
            entries = cast(Entries, await self._redis.xrevrange(each.dead_letters, count=limit))
            for entry_id, raw in entries:
                letters.append((as_text(entry_id), _dead_letter(each, entry_id, raw)))
        letters.sort(key=lambda item: stream_id_order(item[0]), reverse=True)
        return [letter for _, letter in letters[:limit]]

    async def get(self, dead_id: str) -> DeadLetter:
        stage, entry_id = _parse_id(dead_id)
        entries = cast(
            Entries, await self._redis.xrange(stage.dead_letters, min=entry_id, max=entry_id)
        )
        if not entries:
            raise UnknownDeadLetter(f"no dead letter {dead_id}")
        found_id, raw = entries[0]
        return _dead_letter(stage, found_id, raw)

    async def replay(self, dead_id: str) -> DeadLetter:
        """Queue the payload again on its stage's input, then delete the dead letter."""
        stage, entry_id = _parse_id(dead_id)
        letter = await self.get(dead_id)
        if not isinstance(letter.payload, dict):
            raise PermanentError(f"dead letter {dead_id} has no event to replay")
        if letter.article_id:
            url = str(letter.payload.get("url", ""))
            await StatusStore(self._redis).submit(letter.article_id, url, replace=True)
        data = await BinaryMessageFormatV1.encode(
            message=json.dumps(letter.payload).encode(),
            reply_to=None,
            headers={"content-type": "application/json"},
            correlation_id=dead_id,
        )
        await self._redis.xadd(stage.reads, {"__data__": data})
        await self._redis.xdel(stage.dead_letters, entry_id)
        return letter

    async def purge(self, stage: str | None = None) -> int:
        """Delete the dead letters of one stage or of all; returns how many."""
        if stage is not None and stage not in STAGES:
            raise UnknownDeadLetter(f"no stage named {stage!r}; stages: {', '.join(STAGES)}")
        removed = 0
        for each in [STAGES[stage]] if stage else STAGES.values():
            removed += int(await self._redis.xlen(each.dead_letters))
            await self._redis.delete(each.dead_letters)
        return removed


async def stream_stats(redis: Redis) -> list[dict[str, Any]]:
    """Per stage: stream length, pending, lag, consumers, dead letters, and URLs parked until
    their host is free (fetch only)."""
    stats = []
    parked = int(await redis.zcard(PARKED))
    for stage in STAGES.values():
        groups = {}
        if await redis.exists(stage.reads):
            groups = {as_text(g["name"]): g for g in await redis.xinfo_groups(stage.reads)}
        group = groups.get(stage.group, {})
        stats.append(
            {
                "stage": stage.name,
                "stream": stage.reads,
                "length": int(await redis.xlen(stage.reads)),
                "pending": int(group.get("pending", 0)),
                "lag": group.get("lag"),
                "consumers": int(group.get("consumers", 0)),
                "dead_letters": int(await redis.xlen(stage.dead_letters)),
                "parked": parked if stage == FETCH else 0,
            }
        )
    return stats
