"""Stories: articles about the same event share one `story_id`.

An article's story features are its most salient entities (weighted by salience) and its
keywords. Two articles published within the window whose features are similar enough are
about the same event; a new article joins the story of the most similar earlier one, or
starts its own (a story's id is the id of its first article).

Replicas share the candidates in Redis: a sorted set of article ids by publication day and
a hash of their features. The assignment is an optimistic transaction (WATCH on the sorted
set), so two replicas placing two articles of one new story at once cannot both start it.
An article stops being a candidate a retention period after it was placed; each placement
first forgets a bounded batch of such articles.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from services.extract.aliases import alias_key, person_key
from services.extract.retention import SWEEP_BATCH, cutoff
from shared.redis_values import as_text
from shared.schemas import Entity, EntityType
from shared.streams import STORY_DAYS, STORY_FEATURES, STORY_RECORDED

TOP_ENTITIES = 10
ENTITY_SHARE = 0.7
"""Entities weigh this much in the similarity, keywords the rest."""
TYPE_WEIGHTS = {EntityType.PERSON: 1.0, EntityType.ORGANIZATION: 0.7, EntityType.PLACE: 0.4}
"""Who is involved says more about the event than where: most news names a few big places."""
_EPOCH = date(1970, 1, 1)

# KEYS: days, features, recorded. ARGV: cutoff, sweep batch.
_FORGET = """
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1],
                                'LIMIT', 0, tonumber(ARGV[2]))) do
  redis.call('ZREM', KEYS[1], old)
  redis.call('HDEL', KEYS[2], old)
  redis.call('ZREM', KEYS[3], old)
end
"""


def _feature_key(entity: Entity) -> str:
    """People by surname (one article's "Trump" is another's "Donald Trump"), others by key."""
    if entity.type is EntityType.PERSON:
        return f"person:{person_key(entity.name).split()[-1]}"
    return alias_key(entity.name, entity.type)


@dataclass(frozen=True, slots=True)
class StoryFeatures:
    entities: dict[str, float]
    """Entity key -> weighted salience, for the article's most salient entities."""
    keywords: frozenset[str]

    @classmethod
    def of(cls, entities: list[Entity], keywords: list[str]) -> StoryFeatures:
        ranked = sorted(entities, key=lambda e: e.salience, reverse=True)[:TOP_ENTITIES]
        weights: dict[str, float] = {}
        for entity in ranked:
            key = _feature_key(entity)
            weights[key] = weights.get(key, 0.0) + entity.salience * TYPE_WEIGHTS[entity.type]
        return cls(weights, frozenset(keywords))

    def similarity(self, other: StoryFeatures) -> float:
        """Salience-weighted Jaccard of entities, blended with keyword Jaccard (0..1)."""
        names = self.entities.keys() | other.entities.keys()
        low = sum(min(self.entities.get(n, 0.0), other.entities.get(n, 0.0)) for n in names)
        high = sum(max(self.entities.get(n, 0.0), other.entities.get(n, 0.0)) for n in names)
        entity_score = low / high if high else 0.0
        words = self.keywords | other.keywords
        keyword_score = len(self.keywords & other.keywords) / len(words) if words else 0.0
        return ENTITY_SHARE * entity_score + (1 - ENTITY_SHARE) * keyword_score

    def to_json(self, story_id: str) -> str:
        return json.dumps(
            {"story_id": story_id, "entities": self.entities, "keywords": sorted(self.keywords)}
        )

    @classmethod
    def from_json(cls, raw: str) -> tuple[str, StoryFeatures]:
        data = json.loads(raw)
        return data["story_id"], cls(data["entities"], frozenset(data["keywords"]))


def day_number(day: date) -> int:
    return (day - _EPOCH).days


class StoryIndex:
    """The shared story candidates in Redis."""

    def __init__(
        self, redis: Redis, window_days: int, threshold: float, retention_seconds: float
    ) -> None:
        self.redis = redis
        self.window_days = window_days
        self.threshold = threshold
        self.retention_seconds = retention_seconds
        self._forget = redis.register_script(_FORGET)

    async def assign(
        self,
        article_id: str,
        day: date,
        features: StoryFeatures,
        same_as: str | None = None,
        now: float | None = None,
    ) -> str:
        """The story id of `article_id`; the same answer when asked again (re-delivery).

        `same_as` is an article this one copies: the copy joins the original's story.
        `now` (Unix seconds) is when the article is placed."""
        now = time.time() if now is None else now
        await self._forget(
            keys=[STORY_DAYS, STORY_FEATURES, STORY_RECORDED],
            args=[cutoff(now, self.retention_seconds), SWEEP_BATCH],
        )
        position = day_number(day)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(STORY_DAYS)
                    known = await pipe.hget(STORY_FEATURES, article_id)
                    if known is not None:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return StoryFeatures.from_json(as_text(known))[0]
                    story_id = await self._choose(pipe, article_id, position, features, same_as)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.zadd(STORY_DAYS, {article_id: position})
                    pipe.zadd(STORY_RECORDED, {article_id: now})
                    pipe.hset(STORY_FEATURES, article_id, features.to_json(story_id))
                    await pipe.execute()
                    return story_id
                except WatchError:
                    continue

    async def _choose(
        self,
        pipe: Pipeline,
        article_id: str,
        position: int,
        features: StoryFeatures,
        same_as: str | None,
    ) -> str:
        if same_as is not None:
            original = await pipe.hget(STORY_FEATURES, same_as)
            if original is not None:
                return StoryFeatures.from_json(as_text(original))[0]
        nearby = await pipe.zrangebyscore(
            STORY_DAYS, position - self.window_days, position + self.window_days
        )
        if not nearby:
            return article_id
        stored = await pipe.hmget(STORY_FEATURES, [as_text(member) for member in nearby])
        best: tuple[float, str] | None = None
        for raw in stored:
            if raw is None:
                continue
            story_id, other = StoryFeatures.from_json(as_text(raw))
            score = features.similarity(other)
            if score >= self.threshold and (best is None or score > best[0]):
                best = (score, story_id)
        return best[1] if best else article_id
