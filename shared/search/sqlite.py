"""SQLite FTS5 backend: one file, the embedded default.

WAL mode lets the API read while the index stage writes. Entities live in their own table
for filters and facets; the text is indexed by an external-content FTS5 table kept in step
by triggers.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from shared.schemas import ArticleExtracted
from shared.search.base import (
    ENTITY_FIELDS,
    FACET_FIELDS,
    FACET_SIZE,
    EntityCount,
    FacetCount,
    SearchHit,
    SearchQuery,
    SearchResult,
    decode_cursor,
    encode_cursor,
    highlight,
    source_of,
)
from shared.search.query import QueryError, highlight_words, parse_query, to_fts5

SCHEMA_VERSION = 1
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
    story_id TEXT,
    document TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 1,
    indexed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS articles_published ON articles (published);
CREATE INDEX IF NOT EXISTS articles_source ON articles (source);
CREATE INDEX IF NOT EXISTS articles_story ON articles (story_id);
CREATE TABLE IF NOT EXISTS article_entities (
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    salience REAL NOT NULL,
    PRIMARY KEY (article_id, type, name)
);
CREATE INDEX IF NOT EXISTS article_entities_name ON article_entities (type, name);
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
CREATE TRIGGER IF NOT EXISTS articles_au AFTER UPDATE OF title, text ON articles BEGIN
    INSERT INTO articles_fts(articles_fts, rowid, title, text)
    VALUES ('delete', old.rowid, old.title, old.text);
    INSERT INTO articles_fts(rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;
"""

_UPSERT = """
INSERT INTO articles (id, url, source, title, text, published, language, story_id, document)
VALUES (:id, :url, :source, :title, :text, :published, :language, :story_id, :document)
ON CONFLICT(id) DO UPDATE SET
    url = excluded.url, source = excluded.source, title = excluded.title,
    text = excluded.text, published = excluded.published, language = excluded.language,
    story_id = excluded.story_id, document = excluded.document,
    revision = articles.revision + (articles.document != excluded.document),
    indexed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
RETURNING revision
"""


def article_row(article: ArticleExtracted) -> dict[str, Any]:
    content = article.content
    return {
        "id": article.article_id,
        "url": article.url,
        "source": source_of(article.url),
        "title": content.title,
        "text": content.text,
        "published": content.published,
        "language": article.language or content.language,
        "story_id": article.story_id,
        "document": article.model_dump_json(),
    }


BUSY_TIMEOUT_S = 30.0
"""How long a write waits for another connection's write lock before it fails."""


class SQLiteIndex:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()

    def _migrate(self) -> None:
        """Create the schema, or bring an older file up to `SCHEMA_VERSION`."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(articles)")}
        if columns and "story_id" not in columns:
            # Files written before stories existed (version 0).
            self._db.execute("ALTER TABLE articles ADD COLUMN story_id TEXT")
        self._db.executescript(_SCHEMA)
        if version < SCHEMA_VERSION:
            if columns:
                self._db.execute("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def upsert(self, article: ArticleExtracted) -> int:
        return self.upsert_many([article])[0]

    def upsert_many(self, articles: list[ArticleExtracted]) -> list[int]:
        with self._lock, self._db:
            return self._write(articles)

    def upsert_many_now(self, articles: list[ArticleExtracted]) -> list[int] | None:
        """`upsert_many` if it can be done without waiting for a lock; None (nothing
        written) when this connection is busy or another one holds the write lock.

        A caller on an event loop writes here and goes to a thread only when this returns
        None: the write itself takes well under a millisecond per article, where the hop to
        a thread and back costs about as much again, and waiting for a lock (up to
        `BUSY_TIMEOUT_S`) must never block the loop.
        """
        if not self._lock.acquire(blocking=False):
            return None
        try:
            self._db.execute("PRAGMA busy_timeout = 0")
            try:
                with self._db:
                    return self._write(articles)
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    return None
                raise
            finally:
                self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        finally:
            self._lock.release()

    def _write(self, articles: list[ArticleExtracted]) -> list[int]:
        revisions = []
        for article in articles:
            (revision,) = self._db.execute(_UPSERT, article_row(article)).fetchone()
            self._db.execute(
                "DELETE FROM article_entities WHERE article_id = ?", (article.article_id,)
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO article_entities VALUES (?, ?, ?, ?)",
                [(article.article_id, e.type.value, e.name, e.salience) for e in article.entities],
            )
            revisions.append(int(revision))
        return revisions

    def get(self, article_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT document, revision, indexed_at FROM articles WHERE id = ?", (article_id,)
            ).fetchone()
        if row is None:
            return None
        document: dict[str, Any] = json.loads(row["document"])
        return {**document, "revision": row["revision"], "indexed_at": row["indexed_at"]}

    def _matched(self, query: SearchQuery) -> tuple[str, list[Any], list[str]]:
        """A SELECT of (rowid, id, score, published) for every matching article."""
        params: list[Any] = []
        words: list[str] = []
        if query.q.strip():
            tokens = parse_query(query.q)
            words = highlight_words(tokens)
            sql = (
                "SELECT a.rowid, a.id, -bm25(articles_fts, 5.0, 1.0),"
                " coalesce(a.published, '') AS published FROM articles_fts"
                " JOIN articles a ON a.rowid = articles_fts.rowid WHERE articles_fts MATCH ?"
            )
            params.append(to_fts5(tokens))
        else:
            sql = (
                "SELECT a.rowid, a.id, 0.0,"
                " coalesce(a.published, '') AS published FROM articles a WHERE 1"
            )
        for kind in ENTITY_FIELDS:
            for name in getattr(query, kind):
                sql += (
                    " AND a.id IN (SELECT article_id FROM article_entities"
                    " WHERE type = ? AND name = ?)"
                )
                params += [kind, name]
        for column, value in (
            ("a.source", query.source),
            ("a.language", query.lang),
            ("a.story_id", query.story),
        ):
            if value:
                sql += f" AND {column} = ?"
                params.append(value)
        if query.date_from:
            sql += " AND a.published >= ?"
            params.append(query.date_from.isoformat())
        if query.date_to:
            sql += " AND a.published <= ?"
            params.append(query.date_to.isoformat())
        return sql, params, words

    def search(self, query: SearchQuery) -> SearchResult:
        matched, params, words = self._matched(query)
        by_date = query.sort == "date" or not query.q.strip()
        key = "published" if by_date else "score"
        after = ""
        after_params: list[Any] = []
        if query.cursor:
            last_key, last_id = decode_cursor(query.cursor)
            after = f"WHERE ({key} < ? OR ({key} = ? AND id > ?))"
            after_params = [last_key, last_key, last_id]
        try:
            with self._lock:
                # One full-text pass into a scratch table; count, page and facets read it.
                self._db.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS matched"
                    " (rowid INTEGER PRIMARY KEY, id TEXT, score REAL, published TEXT)"
                )
                self._db.execute("DELETE FROM temp.matched")
                self._db.execute(f"INSERT INTO temp.matched {matched}", params)
                (total,) = self._db.execute("SELECT count(*) FROM temp.matched").fetchone()
                rows = self._db.execute(
                    "SELECT m.id, m.score, m.published AS sort_date, a.url, a.title, a.text,"
                    " a.published, a.source FROM"
                    f" (SELECT * FROM temp.matched {after} ORDER BY {key} DESC, id LIMIT ?) m"
                    f" JOIN articles a ON a.rowid = m.rowid ORDER BY m.{key} DESC, m.id",
                    [*after_params, query.limit + 1],
                ).fetchall()
                facets = self._facets()
        except sqlite3.OperationalError as exc:
            raise QueryError(f"query cannot be run: {exc}") from exc
        page = rows[: query.limit]
        next_cursor = None
        if len(rows) > query.limit:
            last = page[-1]
            next_cursor = encode_cursor(
                [last["sort_date"] if by_date else last["score"], last["id"]]
            )
        hits = [
            SearchHit(
                id=r["id"],
                url=r["url"],
                title=r["title"],
                snippet=highlight(r["text"], words),
                published=r["published"],
                source=r["source"],
                score=round(float(r["score"]), 6),
            )
            for r in page
        ]
        return SearchResult(total=int(total), hits=hits, facets=facets, next_cursor=next_cursor)

    def _facets(self) -> dict[str, list[FacetCount]]:
        facets: dict[str, list[FacetCount]] = {}
        for name in FACET_FIELDS:
            if name in ENTITY_FIELDS:
                sql = (
                    "SELECT e.name AS value, count(*) AS n FROM temp.matched m"
                    # CROSS JOIN keeps matched outer: each row probes the entity key.
                    " CROSS JOIN article_entities e ON e.article_id = m.id"
                    " WHERE e.type = ? GROUP BY e.name ORDER BY n DESC, value LIMIT ?"
                )
                args: list[Any] = [name, FACET_SIZE]
            else:
                column = {"source": "source", "lang": "language", "story": "story_id"}[name]
                sql = (
                    f"SELECT a.{column} AS value, count(*) AS n"
                    " FROM temp.matched m JOIN articles a ON a.rowid = m.rowid"
                    f" WHERE a.{column} IS NOT NULL GROUP BY a.{column}"
                    " ORDER BY n DESC, value LIMIT ?"
                )
                args = [FACET_SIZE]
            rows = self._db.execute(sql, args).fetchall()
            facets[name] = [FacetCount(r["value"], int(r["n"])) for r in rows]
        return facets

    def story(self, story_id: str, limit: int = 50) -> list[SearchHit]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, url, title, text, published, source FROM articles WHERE story_id = ?"
                " ORDER BY coalesce(published, '') DESC, id LIMIT ?",
                (story_id, limit),
            ).fetchall()
        return [
            SearchHit(
                id=r["id"],
                url=r["url"],
                title=r["title"],
                snippet=highlight(r["text"], []),
                published=r["published"],
                source=r["source"],
                score=0.0,
            )
            for r in rows
        ]

    def entities(self, prefix: str, limit: int = 20) -> list[EntityCount]:
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._lock:
            rows = self._db.execute(
                "SELECT name, type, count(*) AS n FROM article_entities"
                " WHERE name LIKE ? ESCAPE '\\' GROUP BY name, type"
                " ORDER BY n DESC, name LIMIT ?",
                (pattern, limit),
            ).fetchall()
        return [EntityCount(r["name"], r["type"], int(r["n"])) for r in rows]

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM articles").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()
