"""The alias registry: one canonical name per entity across articles and replicas.

A Redis hash maps alias keys (`services.extract.aliases.alias_key`) to canonical names.
The first article to name an entity in full records its name; later articles, whatever
their spelling ("Sergei" or "Sergey" Lavrov, "Mike" or "Michael" Pompeo), get that name,
and so does a bare surname ("Putin") once a full name with that surname is known. One Lua
script reads and records every name of an article, so two replicas cannot record two
canonical names for one key.
"""

from __future__ import annotations

from collections import defaultdict

from redis.asyncio import Redis

from services.extract.aliases import alias_key
from shared.redis_values import as_text
from shared.schemas import Entity, EntityType, Mention
from shared.streams import ENTITY_ALIASES

# ARGV holds triples: alias key, name to record ('' = only look up), surname key ('' = none).
_CANONICALISE = """
local out = {}
for i = 1, #ARGV, 3 do
  local key, proposed, surname = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local name = redis.call('HGET', KEYS[1], key)
  if not name then
    name = ''
    if proposed ~= '' then
      redis.call('HSET', KEYS[1], key, proposed)
      name = proposed
    end
  end
  if surname ~= '' and name ~= '' then
    redis.call('HSETNX', KEYS[1], surname, name)
  end
  out[#out + 1] = name
end
return out
"""


class AliasRegistry:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._script = redis.register_script(_CANONICALISE)

    async def canonicalise(self, entities: list[Entity]) -> list[Entity]:
        """`entities` under their registered canonical names (entities that turn out to be
        one are merged); names not yet known are recorded."""
        if not entities:
            return []
        surnames = {
            e.name.split()[-1] for e in entities if e.type is EntityType.PERSON and " " in e.name
        }
        args: list[str] = []
        for entity in entities:
            args.extend(_registration(entity, surnames))
        replies = await self._script(keys=[ENTITY_ALIASES], args=args)
        renamed = [
            entity.model_copy(update={"name": as_text(reply)}) if reply else entity
            for entity, reply in zip(entities, replies, strict=True)
        ]
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
