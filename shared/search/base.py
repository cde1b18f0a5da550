"""The search index interface every backend implements, and the values it speaks in."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol

from shared.schemas import ArticleExtracted
from shared.search.query import QueryError

MAX_LIMIT = 100
ENTITY_FIELDS = ("person", "organization", "place")
"""Entity types, which are also the names of their filters and facets."""
FACET_FIELDS = (*ENTITY_FIELDS, "source", "lang", "story")
FACET_SIZE = 10
Sort = Literal["relevance", "date"]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to search for. `q` may be empty when filters alone select the articles."""

    q: str = ""
    person: tuple[str, ...] = ()
    organization: tuple[str, ...] = ()
    place: tuple[str, ...] = ()
    source: str | None = None
    lang: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    story: str | None = None
    sort: Sort = "relevance"
    limit: int = 10
    cursor: str | None = None

    def __post_init__(self) -> None:
        if self.source is not None:
            # Frozen: normalised once here so every backend compares the same spelling.
            object.__setattr__(self, "source", normalise_source(self.source))
        if not 1 <= self.limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise QueryError("`from` is after `to`")
        if not self.q.strip() and self.sort == "relevance" and not self.has_filters:
            raise QueryError("give words to search for (q) or at least one filter")

    @property
    def has_filters(self) -> bool:
        return bool(
            self.person or self.organization or self.place or self.source or self.lang
            or self.date_from or self.date_to or self.story
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    url: str
    title: str | None
    snippet: str
    published: str | None
    source: str
    score: float


@dataclass(frozen=True, slots=True)
class FacetCount:
    value: str
    count: int


@dataclass(frozen=True, slots=True)
class SearchResult:
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class EntityCount:
    name: str
    type: str
    articles: int


class SearchIndex(Protocol):
    """Idempotent writes keyed by article id; reads for the API. Thread-safe."""

    def upsert(self, article: ArticleExtracted) -> int:
        """Store or replace the article; returns its revision (1, +1 per real change)."""
        ...

    def upsert_many(self, articles: list[ArticleExtracted]) -> list[int]:
        """Several upserts in one transaction; revisions in the same order."""
        ...

    def upsert_many_now(self, articles: list[ArticleExtracted]) -> list[int] | None:
        """`upsert_many` where it can be done at once, without waiting on a lock or the
        network, so an event loop may call it; None (nothing written) otherwise, and the
        caller then calls `upsert_many` on a thread."""
        ...

    def get(self, article_id: str) -> dict[str, Any] | None: ...

    def search(self, query: SearchQuery) -> SearchResult: ...

    def story(self, story_id: str, limit: int = 50) -> list[SearchHit]:
        """Articles of one story, newest first."""
        ...

    def entities(self, prefix: str, limit: int = 20) -> list[EntityCount]:
        """Canonical entities whose name starts with `prefix` (case-insensitive), by articles."""
        ...

    def count(self) -> int: ...

    def close(self) -> None: ...


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor: the sort key of the last hit returned."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError as exc:
        raise QueryError("cursor is not one this API returned") from exc
    if not isinstance(values, list) or len(values) != 2:
        raise QueryError("cursor is not one this API returned")
    return values


def normalise_source(host: str) -> str:
    """A site as newsflow names it: the host, lower-case, without `www.`."""
    return host.strip().lower().removeprefix("www.")


def source_of(url: str) -> str:
    """The site an article comes from."""
    from urllib.parse import urlsplit

    return normalise_source(urlsplit(url).hostname or "")


def highlight(text: str, words: list[str], width: int = 200) -> str:
    """A window of `text` around the first matched word, matches wrapped in <mark>.

    Done here rather than in each backend so both answer alike, and only for the hits
    of one page.
    """
    import html
    import re

    if not words:
        return html.escape(text[:width]) + ("…" if len(text) > width else "")
    pattern = re.compile(
        r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\w*",
        re.IGNORECASE,
    )
    first = pattern.search(text)
    start = max(0, (first.start() if first else 0) - width // 3)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 30 else start
    window = text[start : start + width]
    marked = pattern.sub(lambda m: f"\x00{m.group(0)}\x01", window)
    escaped = html.escape(marked).replace("\x00", "<mark>").replace("\x01", "</mark>")
    return ("…" if start else "") + escaped + ("…" if start + width < len(text) else "")
