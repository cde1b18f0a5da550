"""The alias registry: one canonical name per entity across articles and replicas.

A Redis hash maps alias keys (`services.extract.aliases.alias_key`) to canonical names.
The first article to name an entity in full records its name; later articles, whatever
their spelling ("Sergei" or "Sergey" Lavrov, "Mike" or "Michael" Pompeo), get that name,
and so does a bare surname ("Putin") once a full name with that surname is known, whichever
article came first: an article naming only "Trump" keeps "Trump", and every article after
the first "Donald Trump" gets the full name. A surname that two people's full names share
("Donald Trump", "Melania Trump") is recorded as ambiguous (an empty name) and resolves to
nobody. Only people are looked up by surname: "Jordan" the place is never "Michael Jordan".
One Lua script reads and records every name of an article, so two replicas cannot record
two canonical names for one key.

Aliases are kept for a retention period after an article last used them: each use records
its time in a sorted set, and each call forgets a bounded batch of those unused for longer,
so the registry holds what recent news names rather than everything ever seen.
"""

from __future__ import annotations

import time
from collections import defaultdict

from redis.asyncio import Redis

from services.extract.aliases import alias_key
from services.extract.retention import SWEEP_BATCH, cutoff
from shared.redis_values import as_text
from shared.schemas import Entity, EntityType, Mention
from shared.streams import ENTITY_ALIASES, ENTITY_ALIASES_USED

# KEYS: aliases, last use. ARGV: now, cutoff (forget what was last used before it), sweep
# batch, then triples: alias key, name to record ('' = only look up), surname key ('' = none).
_CANONICALISE = """
local now, cutoff, batch = ARGV[1], ARGV[2], tonumber(ARGV[3])
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff,
                                'LIMIT', 0, batch)) do
  redis.call('HDEL', KEYS[1], old)
  redis.call('ZREM', KEYS[2], old)
end
local out = {}
for i = 4, #ARGV, 3 do
  local key, proposed, surname = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local name = redis.call('HGET', KEYS[1], key)
  if not name then
    name = ''
    if proposed ~= '' then
      redis.call('HSET', KEYS[1], key, proposed)
      name = proposed
    end
  end
  if name ~= '' then
    redis.call('ZADD', KEYS[2], now, key)
    if surname ~= '' then
      local known = redis.call('HGET', KEYS[1], surname)
      if not known then
        redis.call('HSET', KEYS[1], surname, name)
      elseif known ~= name and known ~= '' then
        redis.call('HSET', KEYS[1], surname, '')
      end
      redis.call('ZADD', KEYS[2], now, surname)
    end
  end
  out[#out + 1] = name
end
return out
"""


class AliasRegistry:
    def __init__(self, redis: Redis, retention_seconds: float) -> None:
        self.redis = redis
        self.retention_seconds = retention_seconds
        self._script = redis.register_script(_CANONICALISE)

    async def canonicalise(self, entities: list[Entity], now: float | None = None) -> list[Entity]:
        """`entities` under their registered canonical names (entities that turn out to be
        one are merged); names not yet known are recorded. `now` (Unix seconds) is when
        the names are used."""
        if not entities:
            return []
        now = time.time() if now is None else now
        surnames = {
            e.name.split()[-1] for e in entities if e.type is EntityType.PERSON and " " in e.name
        }
        args = [repr(now), cutoff(now, self.retention_seconds), str(SWEEP_BATCH)]
        for entity in entities:
            args.extend(_registration(entity, surnames))
        replies = await self._script(keys=[ENTITY_ALIASES, ENTITY_ALIASES_USED], args=args)
        renamed = [
            entity.model_copy(update={"name": as_text(reply)}) if reply else entity
            for entity, reply in zip(entities, replies, strict=True)
        ]
        # A bare "Lavrov" that resolved to "Sergey Lavrov" is a use of that name too: its
        # own key stays, or a later "Sergei Lavrov" would be recorded afresh under another
        # spelling than the one "Lavrov" still resolves to.
        used = {
            alias_key(after.name, after.type): now
            for before, after in zip(entities, renamed, strict=True)
            if after.name != before.name
        }
        if used:
            await self.redis.zadd(ENTITY_ALIASES_USED, used, xx=True)
        return _merge(renamed)


def _registration(entity: Entity, surnames: set[str]) -> tuple[str, str, str]:
    key = alias_key(entity.name, entity.type)
    words = entity.name.split()
    if entity.type is not EntityType.PERSON:
        return key, entity.name, ""
    if len(words) == 1:
        # A bare surname is looked up, never recorded: "Trump" must not block "Donald Trump".
        # When this article names someone in full with that surname, it already chose.
        return (key if entity.name not in surnames else ""), "", ""
    return key, entity.name, alias_key(words[-1], EntityType.PERSON)


def _merge(entities: list[Entity]) -> list[Entity]:
    groups: dict[tuple[str, EntityType], list[Entity]] = defaultdict(list)
    for entity in entities:
        groups[(entity.name, entity.type)].append(entity)
    merged = []
    for (name, kind), members in groups.items():
        if len(members) == 1:
            merged.append(members[0])
            continue
        mentions: list[Mention] = sorted(
            (m for e in members for m in e.mentions), key=lambda m: m.start
        )
        salience = min(1.0, sum(e.salience for e in members))
        merged.append(Entity(name=name, type=kind, mentions=mentions, salience=round(salience, 4)))
    merged.sort(key=lambda e: e.salience, reverse=True)
    return merged
