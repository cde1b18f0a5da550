"""Article status: one Redis hash per article, moved only forward.

    queued -> fetched -> cleaned -> extracted -> indexed
         \\________\\_________\\___________\\______-> failed | skipped

A re-delivered event cannot move an article back: every transition is a compare-and-set
on the status's rank, done in one Lua script.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shared.redis_values import as_text
from shared.streams import article_key

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline


class ArticleStatus(StrEnum):
    QUEUED = "queued"
    FETCHED = "fetched"
    CLEANED = "cleaned"
    EXTRACTED = "extracted"
    INDEXED = "indexed"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def is_terminal(self) -> bool:
        return self.rank == _TERMINAL_RANK


_TERMINAL_RANK = 100
_RANKS = {
    ArticleStatus.QUEUED: 0,
    ArticleStatus.FETCHED: 1,
    ArticleStatus.CLEANED: 2,
    ArticleStatus.EXTRACTED: 3,
    ArticleStatus.INDEXED: _TERMINAL_RANK,
    ArticleStatus.FAILED: _TERMINAL_RANK,
    ArticleStatus.SKIPPED: _TERMINAL_RANK,
}

# KEYS[1] article hash; ARGV[1] new rank; ARGV[2] new status; ARGV[3] n, the number of
# timing pairs that follow; then n field, value pairs; then the other field, value pairs.
# Timings are facts and always land (a stage may finish after a later stage has). A terminal
# article is otherwise never touched again; other fields land unless it is terminal, and the
# status moves only forward.
_ADVANCE = """
local timings = tonumber(ARGV[3])
local rest = 4 + 2 * timings
if timings > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 4, rest - 1)) end
local current = tonumber(redis.call('HGET', KEYS[1], 'rank') or '-1')
if current >= TERMINAL_RANK then return 0 end
if #ARGV >= rest then redis.call('HSET', KEYS[1], unpack(ARGV, rest)) end
if current >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'rank', ARGV[1], 'status', ARGV[2])
return 1
""".replace("TERMINAL_RANK", str(_TERMINAL_RANK))

# The same, then XACK of one stream entry whatever the status did: KEYS[2] the stream;
# ARGV[1] the group and ARGV[2] the entry id come before the arguments above. One round trip
# instead of two, and the entry is acknowledged exactly when its article's status is written.
_ADVANCE_AND_ACK = (
    "local group = table.remove(ARGV, 1)\n"
    "local entry = table.remove(ARGV, 1)\n"
    "local function advance()\n" + _ADVANCE + "end\n"
    "local moved = advance()\n"
    "redis.call('XACK', KEYS[2], group, entry)\n"
    "return moved\n"
)

# The same after a stage published its next event in the same transaction: KEYS[3] the stream
# it went to. A transaction runs its commands whatever one of them returns, so the status
# moves and the entry is acknowledged only if the event can have landed; the one error a
# stream append meets at run time is a key of another type (an out-of-memory refusal comes
# when the command is queued, and the transaction then runs nothing).
_ADVANCE_AND_ACK_PUBLISHED = (
    "if redis.call('TYPE', KEYS[3]).ok ~= 'stream' then\n"
    "  return redis.error_reply('the event was not published: ' .. KEYS[3] .. ' is not a stream')\n"
    "end\n" + _ADVANCE_AND_ACK
)


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """A stream entry read through a consumer group, to acknowledge with a status move."""

    stream: str
    group: str
    entry_id: str


# KEYS[1] article hash; ARGV[1] 1 to replace an existing status; ARGV[2..] field, value pairs.
# Returns {1, 'queued'} when it recorded the article, {0, status} when it was already known.
_SUBMIT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  if ARGV[1] ~= '1' then return {0, redis.call('HGET', KEYS[1], 'status')} end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'rank', '0', unpack(ARGV, 2))
return {1, 'queued'}
"""


def _pairs(fields: dict[str, Any]) -> list[str]:
    flat: list[str] = []
    for name, value in fields.items():
        if value is not None:
            flat += [name, str(value)]
    return flat


def _advance_args(
    status: ArticleStatus, stage: str | None, elapsed_ms: float | None, fields: dict[str, Any]
) -> list[str]:
    """The status script's arguments: rank, status, the stage's timing, the other fields."""
    timings: dict[str, Any] = {}
    if stage is not None and elapsed_ms is not None:
        timings[f"{stage}_ms"] = round(elapsed_ms, 1)
    values = _pairs({"updated_at": time.time(), **fields})
    return [str(status.rank), status.value, str(len(timings)), *_pairs(timings), *values]


class StatusStore:
    """Reads and moves article statuses. Safe to share across tasks and replicas."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._advance = redis.register_script(_ADVANCE)
        self._advance_and_ack = redis.register_script(_ADVANCE_AND_ACK)
        self._submit = redis.register_script(_SUBMIT)

    async def submit(
        self, article_id: str, url: str, *, trace_id: str | None = None, replace: bool = False
    ) -> bool:
        """Record a new article as `queued`. Returns False if it was known and not replaced."""
        created, _ = await self._record(article_id, url, trace_id=trace_id, replace=replace)
        return created

    async def ensure(self, article_id: str, url: str, *, trace_id: str | None = None) -> str:
        """Record the article as `queued` unless known; its status either way (one round trip)."""
        _, status = await self._record(article_id, url, trace_id=trace_id, replace=False)
        return status

    async def _record(
        self, article_id: str, url: str, *, trace_id: str | None, replace: bool
    ) -> tuple[bool, str]:
        fields = {
            "id": article_id,
            "url": url,
            "status": ArticleStatus.QUEUED.value,
            "submitted_at": time.time(),
            "trace_id": trace_id,
        }
        created, status = await self._submit(
            keys=[article_key(article_id)], args=["1" if replace else "0", *_pairs(fields)]
        )
        return bool(created), as_text(status)

    async def advance(
        self,
        article_id: str,
        status: ArticleStatus,
        *,
        stage: str | None = None,
        elapsed_ms: float | None = None,
        ack: StreamEntry | None = None,
        **fields: Any,
    ) -> bool:
        """Move to `status` if that is forward, recording `fields` and the stage's time; with
        `ack`, acknowledge that entry in the same step.

        Returns False when the status did not move (it was already there or beyond).
        """
        args = _advance_args(status, stage, elapsed_ms, fields)
        if ack is None:
            moved = await self._advance(keys=[article_key(article_id)], args=args)
        else:
            moved = await self._advance_and_ack(
                keys=[article_key(article_id), ack.stream], args=[ack.group, ack.entry_id, *args]
            )
        return bool(moved)

    def advance_in(
        self,
        pipe: Pipeline,
        article_id: str,
        status: ArticleStatus,
        ack: StreamEntry,
        *,
        published_to: str,
        stage: str,
        elapsed_ms: float,
        **fields: Any,
    ) -> None:
        """`advance` with `ack`, queued on `pipe` after the stage's event was published to the
        stream `published_to` on it: one round trip for both. Fails, moving and
        acknowledging nothing, when `published_to` is not a stream.

        Sent as EVAL with the script's text rather than by its hash: a pipeline would first
        ask the server whether the script is loaded, a round trip of its own.
        """
        args = _advance_args(status, stage, elapsed_ms, fields)
        pipe.eval(
            _ADVANCE_AND_ACK_PUBLISHED,
            3,
            article_key(article_id),
            ack.stream,
            published_to,
            ack.group,
            ack.entry_id,
            *args,
        )

    async def get(self, article_id: str) -> dict[str, str] | None:
        raw = await self._redis.hgetall(article_key(article_id))
        if not raw:
            return None
        return {as_text(k): as_text(v) for k, v in raw.items()}
