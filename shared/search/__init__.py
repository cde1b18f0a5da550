"""The search index: one small interface, two backends.

    SQLiteIndex   sqlite:///path/index.db     the embedded default (FTS5)
    PostgresIndex postgresql://user@host/db   compose and Kubernetes (full-text search)

Writes are idempotent upserts keyed by article id: a re-delivered event leaves one
document, and a changed page replaces its document and bumps its revision.
"""

from shared.search.base import (
    FACET_FIELDS,
    MAX_LIMIT,
    EntityCount,
    FacetCount,
    SearchHit,
    SearchIndex,
    SearchQuery,
    SearchResult,
)
from shared.search.query import QueryError, parse_query, to_fts_query, to_tsquery
from shared.search.sqlite import SQLiteIndex


def open_index(url: str) -> SearchIndex:
    """Open (and create or migrate) the backend `url` names."""
    if url.startswith("sqlite:///"):
        return SQLiteIndex(url.removeprefix("sqlite:///") or ":memory:")
    if url.startswith(("postgresql://", "postgres://")):
        from shared.search.postgres import PostgresIndex

        return PostgresIndex(url)
    scheme = url.split(":", 1)[0]
    raise ValueError(
        f"unsupported search index URL scheme {scheme!r}; use sqlite:///PATH or postgresql://..."
    )


__all__ = [
    "FACET_FIELDS",
    "MAX_LIMIT",
    "EntityCount",
    "FacetCount",
    "QueryError",
    "SQLiteIndex",
    "SearchHit",
    "SearchIndex",
    "SearchQuery",
    "SearchResult",
    "open_index",
    "parse_query",
    "to_fts_query",
    "to_tsquery",
]
