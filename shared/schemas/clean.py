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
    modified: str | None = None
    """ISO date the page says it was last changed, if it says so."""
    site_name: str | None = None
    language: str | None = None
    """Two- or three-letter code the page declares (`<html lang>`, meta) or, failing that,
    a light guess from its common words."""
    canonical_url: str | None = None
    """The URL the page names as its own (`<link rel=canonical>`, `og:url`), else its URL."""
    image: str | None = None
    """The lead image's URL (`og:image`)."""


class ArticleCleaned(Event):
    """The page's main text and metadata, boilerplate removed."""

    schema_version: Literal[1] = 1
    url: str
    content: Content
    cleaned_at: datetime
