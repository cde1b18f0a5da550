from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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


class Dateline(BaseModel):
    """A wire story's opening: `MOSCOW, January 23. /TASS/.`, `WASHINGTON (AP) —`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    place: str | None = None
    region: str | None = None
    date: str | None = None
    """ISO date; a dateline without a year takes it from the publication date, else None."""
    agency: str | None = None
    start: int = 0
    end: int = 0
    """Character offsets of the dateline in the article text."""


class Quote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    speaker: str | None
    """A canonical entity name (person or organisation); None when nobody can be named."""
    start: int
    """Character offsets of the quoted words in the article text."""
    end: int


class ArticleExtracted(Event):
    """The cleaned article plus what was recognised in it."""

    schema_version: Literal[1] = 1
    url: str
    content: Content
    entities: list[Entity]
    dateline: Dateline | None = None
    quotes: list[Quote] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    summary: str | None = None
    """The lead: the first sentences after the dateline."""
    language: str | None = None
    """ISO 639-1 code found in the text; only English text is run through entity recognition."""
    story_id: str | None = None
    """Articles about the same event share one story id (set by the extract stage)."""
    duplicate_of: str | None = None
    """Id of an earlier article this one is a near-copy of (e.g. a syndicated wire story)."""
    extracted_at: datetime
