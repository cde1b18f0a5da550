from __future__ import annotations

from datetime import datetime
from typing import Literal

from shared.schemas.base import Event


class ArticleIndexed(Event):
    """Public output: an article is searchable. Read `newsflow:indexed` to follow along."""

    schema_version: Literal[1] = 1
    url: str
    title: str | None
    published: str | None
    indexed_at: datetime
