"""The search index: one small interface; SQLite FTS5 is the embedded backend.

Writes are idempotent upserts keyed by article id: a re-delivered event leaves one
document, and a changed page replaces its document and bumps its revision.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from shared.schemas import ArticleExtracted

MAX_LIMIT = 100


class QueryError(ValueError):
    """A search query newsflow cannot run; the message says why."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    url: str
    title: str | None
    snippet: str
    published: str | None
    score: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    total: int
    hits: list[SearchHit]


class SearchIndex(Protocol):
    def upsert(self, article: ArticleExtracted) -> int:
        """Store or replace the article; returns its revision."""
        ...

    def get(self, article_id: str) -> dict[str, Any] | None: ...

    def search(self, query: str, limit: int = 10) -> SearchResult: ...

    def count(self) -> int: ...

    def close(self) -> None: ...


_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_OPERATORS = frozenset({"AND", "OR", "NOT"})
_WORD = re.compile(r"[\w][\w'’.-]*\*?", re.UNICODE)


def to_fts_query(query: str) -> str:
    """Translate a user query (words, "phrases", AND / OR / NOT, prefix*) to FTS5 syntax.

    Every word and phrase is quoted, so punctuation in user input cannot inject FTS5
    syntax. Raises `QueryError` naming the problem.
    """
    if query.count('"') % 2:
        raise QueryError("unbalanced quotes in query")
    parts: list[str] = []
    for match in _TOKEN.finditer(query):
        phrase, word = match.groups()
        if phrase is not None:
            cleaned = phrase.replace('"', " ").strip()
            if cleaned:
                parts.append(f'"{cleaned}"')
        elif word in _OPERATORS:
            if not parts or parts[-1] in _OPERATORS:
                raise QueryError(f"{word} needs a term before it")
            parts.append(word)
        else:
            for token in _WORD.findall(word):
                prefix = token.endswith("*")
                term = token.rstrip("*").replace('"', "")
                parts.append(f'"{term}"*' if prefix else f'"{term}"')
    if not parts:
        raise QueryError("query has no words to search for")
    if parts[-1] in _OPERATORS:
        raise QueryError(f"{parts[-1]} needs a term after it")
    if parts[0] == "NOT":
        raise QueryError("NOT needs a term before it (e.g. `putin NOT trump`)")
    return " ".join(parts)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT,
    text TEXT NOT NULL,
    published TEXT,
    language TEXT,
    document TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 1,
    indexed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5(
    title, text, content='articles', content_rowid='rowid',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS articles_ai AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts(rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;
CREATE TRIGGER IF NOT EXISTS articles_ad AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts(articles_fts, rowid, title, text)
    VALUES ('delete', old.rowid, old.title, old.text);
END;
CREATE TRIGGER IF NOT EXISTS articles_au AFTER UPDATE ON articles BEGIN
    INSERT INTO articles_fts(articles_fts, rowid, title, text)
    VALUES ('delete', old.rowid, old.title, old.text);
    INSERT INTO articles_fts(rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;
"""

_UPSERT = """
INSERT INTO articles (id, url, source, title, text, published, language, document)
VALUES (:id, :url, :source, :title, :text, :published, :language, :document)
ON CONFLICT(id) DO UPDATE SET
    url = excluded.url, source = excluded.source, title = excluded.title,
    text = excluded.text, published = excluded.published, language = excluded.language,
    document = excluded.document,
    revision = articles.revision + (articles.document != excluded.document),
    indexed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
RETURNING revision
"""


class SQLiteIndex:
    """SQLite FTS5 index in one file; WAL mode lets the API read while the index stage writes."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def upsert(self, article: ArticleExtracted) -> int:
        content = article.content
        row = {
            "id": article.article_id,
            "url": article.url,
            "source": (urlsplit(article.url).hostname or "").removeprefix("www."),
            "title": content.title,
            "text": content.text,
            "published": content.published,
            "language": content.language,
            "document": article.model_dump_json(),
        }
        with self._lock, self._db:
            (revision,) = self._db.execute(_UPSERT, row).fetchone()
        return int(revision)

    def get(self, article_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT document, revision, indexed_at FROM articles WHERE id = ?", (article_id,)
            ).fetchone()
        if row is None:
            return None
        document: dict[str, Any] = json.loads(row["document"])
        return {**document, "revision": row["revision"], "indexed_at": row["indexed_at"]}

    def search(self, query: str, limit: int = 10) -> SearchResult:
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
        match = to_fts_query(query)
        try:
            with self._lock:
                (total,) = self._db.execute(
                    "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?", (match,)
                ).fetchone()
                rows = self._db.execute(
                    """
                    SELECT a.id, a.url, a.title, a.published, bm25(articles_fts, 5.0, 1.0) AS score,
                           snippet(articles_fts, 1, '<mark>', '</mark>', '…', 24) AS snippet
                    FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid
                    WHERE articles_fts MATCH ?
                    ORDER BY score LIMIT ?
                    """,
                    (match, limit),
                ).fetchall()
        except sqlite3.OperationalError as exc:
            raise QueryError(f"query cannot be run: {exc}") from exc
        hits = [
            SearchHit(
                id=r["id"],
                url=r["url"],
                title=r["title"],
                snippet=r["snippet"],
                published=r["published"],
                score=-float(r["score"]),
            )
            for r in rows
        ]
        return SearchResult(total=int(total), hits=hits)

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM articles").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_index(url: str) -> SearchIndex:
    """Open the backend `url` names: `sqlite:///path/to/index.db`."""
    if url.startswith("sqlite:///"):
        return SQLiteIndex(url.removeprefix("sqlite:///") or ":memory:")
    scheme = url.split(":", 1)[0]
    raise ValueError(f"unsupported search index URL scheme {scheme!r}; use sqlite:///PATH")
