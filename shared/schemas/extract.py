from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.schemas.base import Event
from shared.schemas.clean import Content


class EntityType(StrEnum):
    PERSON = "person"
    ORGANIZATION = "organization"
    PLACE = "place"


class Mention(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    start: int
    """Character offset into the article text."""
    end: int


class Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """Canonical name: the fullest form the article uses."""
    type: EntityType
    mentions: list[Mention]
    salience: float


class ArticleExtracted(Event):
    """The cleaned article plus what was recognised in it."""

    schema_version: Literal[1] = 1
    url: str
    content: Content
    entities: list[Entity]
    story_id: str | None = None
    """Articles about the same event share one story id (set by the extract stage)."""
    extracted_at: datetime
