from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.schemas.base import Event


class Content(BaseModel):
    """An article's main text and metadata, as the clean stage found them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str | None
    text: str
    authors: list[str] = []
    published: str | None = None
    """ISO date (YYYY-MM-DD) from the page's metadata; never a guess."""
    site_name: str | None = None
    language: str | None = None


class ArticleCleaned(Event):
    """The page's main text and metadata, boilerplate removed."""

    schema_version: Literal[1] = 1
    url: str
    content: Content
    cleaned_at: datetime
