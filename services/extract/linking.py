"""What the extract stage decides across articles, with state shared by replicas in Redis:
canonical names (alias registry), near-duplicates (LSH index) and stories."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from redis.asyncio import Redis

from services.extract.analysis import Extraction
from services.extract.duplicates import DuplicateIndex
from services.extract.registry import AliasRegistry
from services.extract.retention import SECONDS_PER_DAY
from services.extract.stories import StoryFeatures, StoryIndex
from shared.schemas import Entity
from shared.settings import Settings


@dataclass(frozen=True, slots=True)
class Linked:
    entities: list[Entity]
    duplicate_of: str | None
    story_id: str


class ArticleLinker:
    def __init__(
        self, redis: Redis, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        retention = settings.extract_retention_days * SECONDS_PER_DAY
        self.clock = clock
        self.aliases = AliasRegistry(redis, retention)
        self.duplicates = DuplicateIndex(redis, settings.extract_duplicate_similarity, retention)
        self.stories = StoryIndex(
            redis,
            settings.extract_story_window_days,
            settings.extract_story_similarity,
            retention,
        )

    async def link(self, article_id: str, found: Extraction, day: date) -> Linked:
        """Canonical names, the original this article copies, and its story.

        `day` places the article in the story window: its publication date, else its
        dateline's, else the day it was extracted. Safe to repeat for one article."""
        now = self.clock()
        entities = await self.aliases.canonicalise(found.entities, now)
        duplicate_of = await self.duplicates.record(article_id, found.fingerprint, now)
        features = StoryFeatures.of(entities, found.keywords)
        story_id = await self.stories.assign(
            article_id, day, features, same_as=duplicate_of, now=now
        )
        return Linked(entities, duplicate_of, story_id)


def story_day(published: str | None, found: Extraction, fallback: date) -> date:
    for candidate in (published, found.dateline.date if found.dateline else None):
        if candidate:
            try:
                return date.fromisoformat(candidate[:10])
            except ValueError:
                continue
    return fallback
