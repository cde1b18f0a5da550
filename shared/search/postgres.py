"""PostgreSQL full-text backend: one database shared by every API and index replica.

Answers exactly as the SQLite backend does (same ids, order, facets, cursors, revisions);
only the ranking function differs. The text is indexed by a stored generated tsvector
column (title weighted A, text B) with a GIN index; entities live in their own table for
filters and facets.

Diacritics are folded on both sides by `newsflow_fold(text)`, a function created with the
schema: it wraps the `unaccent` extension when `CREATE EXTENSION IF NOT EXISTS unaccent`
works, and is the identity otherwise. The choice is made once, when the function is first
created, so the stored vectors and the queries always fold alike.

Every replica runs the schema set-up at start; an advisory lock keyed by the schema
serialises them, and a catalogue check skips the DDL (and its table locks) when the schema
is already in place.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg_pool import ConnectionPool

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
from shared.search.query import (
    QueryError,
    Term,
    Token,
    highlight_words,
    parse_query,
    to_tsquery,
)

SCHEMA_VERSION = 1
_COMPONENT = "search"
_LOCK_CLASS = 0x6E66  # "nf": first key of the advisory lock, the second is the schema
_SCORE_DIGITS = 6
"""Scores are rounded in SQL, so a cursor's score compares exactly with the stored order."""
_RANK_WEIGHTS = "{0.1, 0.2, 0.2, 1.0}"
"""ts_rank_cd weights for D, C, B (text), A (title): a title match counts 5x, as in SQLite."""
_RANK_NORMALIZATION = 1
"""Divide the rank by 1 + log(document length): longer articles need more matches."""

_SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS newsflow_schema (
    component text PRIMARY KEY,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""
_FOLD_EXISTS = """
SELECT EXISTS (
    SELECT FROM pg_proc
    WHERE proname = 'newsflow_fold' AND pronamespace = current_schema()::regnamespace
)
"""
_FOLD_SIGNATURE = (
    "CREATE FUNCTION newsflow_fold(text) RETURNS text"
    " LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS {}"
)
_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS articles (
        id text COLLATE "C" PRIMARY KEY,
        url text NOT NULL,
        source text NOT NULL,
        title text,
        text text NOT NULL,
        published date,
        language text,
        story_id text,
        document json NOT NULL,
        revision integer NOT NULL DEFAULT 1,
        indexed_at timestamptz NOT NULL DEFAULT now(),
        search tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('simple', newsflow_fold(coalesce(title, ''))), 'A')
            || setweight(to_tsvector('simple', newsflow_fold(text)), 'B')
        ) STORED
    )
    """,
    "CREATE INDEX IF NOT EXISTS articles_search ON articles USING gin (search)",
    "CREATE INDEX IF NOT EXISTS articles_published ON articles (published)",
    "CREATE INDEX IF NOT EXISTS articles_source ON articles (source)",
    "CREATE INDEX IF NOT EXISTS articles_story ON articles (story_id)",
    """
    CREATE TABLE IF NOT EXISTS article_entities (
        article_id text COLLATE "C" NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        type text NOT NULL,
        name text NOT NULL,
        salience real NOT NULL,
        PRIMARY KEY (article_id, type, name)
    )
    """,
    "CREATE INDEX IF NOT EXISTS article_entities_name ON article_entities (type, lower(name))",
    "CREATE INDEX IF NOT EXISTS article_entities_prefix"
    " ON article_entities (lower(name) text_pattern_ops)",
)
_RELATIONS = (
    "newsflow_schema",
    "articles",
    "articles_search",
    "articles_published",
    "articles_source",
    "articles_story",
    "article_entities",
    "article_entities_name",
    "article_entities_prefix",
)
_MIGRATIONS: dict[int, tuple[str, ...]] = {}
"""Statements that bring a schema at version v-1 to v (v > 1), each idempotent (IF NOT
EXISTS...): the set-up runs them all whenever the stored version is behind or an object is
missing, so _SCHEMA itself stays at version 1."""

_UPSERT = """
INSERT INTO articles AS a (id, url, source, title, text, published, language, story_id, document)
VALUES (%(id)s, %(url)s, %(source)s, %(title)s, %(text)s, %(published)s, %(language)s,
        %(story_id)s, %(document)s)
ON CONFLICT (id) DO UPDATE SET
    url = excluded.url, source = excluded.source, title = excluded.title,
    text = excluded.text, published = excluded.published, language = excluded.language,
    story_id = excluded.story_id, document = excluded.document,
    revision = a.revision
        + (a.document::text IS DISTINCT FROM excluded.document::text)::integer,
    indexed_at = now()
RETURNING revision
"""
_META_COLUMNS = {"source": "source", "lang": "language", "story": "story_id"}
_QUERY_ERRORS = (
    psycopg.errors.SyntaxError,
    psycopg.errors.DataError,
    psycopg.errors.ProgramLimitExceeded,
)


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL characters; the JSON document keeps them escaped."""
    return value.replace("\x00", "")


def _optional(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _published(value: str | None) -> date | None:
    """The ISO date at the start of `value`, or None when there is none to store."""
    if not value or len(value) < 10 or not value[:4].isdigit():
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def article_row(article: ArticleExtracted) -> dict[str, Any]:
    content = article.content
    return {
        "id": _text(article.article_id),
        "url": _text(article.url),
        "source": _text(source_of(article.url)),
        "title": _optional(content.title),
        "text": _text(content.text),
        "published": _published(content.published),
        "language": _optional(article.language or content.language),
        "story_id": _optional(article.story_id),
        "document": article.model_dump_json(),
    }


def entity_rows(articles: list[ArticleExtracted]) -> list[tuple[str, str, str, float]]:
    """The entities of the last version of each article, one per (type, name in any case).

    SQLite's key is case-insensitive, so a later spelling replaces an earlier one.
    """
    latest = {article.article_id: article for article in articles}
    rows: list[tuple[str, str, str, float]] = []
    for ident, article in latest.items():
        kept: dict[tuple[str, str], tuple[str, str, str, float]] = {}
        for entity in article.entities:
            name = _text(entity.name)
            kept[(entity.type.value, name.lower())] = (
                _text(ident),
                entity.type.value,
                name,
                entity.salience,
            )
        rows += kept.values()
    return rows


@dataclass(slots=True)
class _Matched:
    """The WHERE clause selecting every matching article `a`, and its score expression.

    `score` has a `{vector}` slot for the tsvector column it ranks.
    """

    where: str
    score: str
    params: dict[str, Any] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)

    def ranked(self, vector: str) -> str:
        return self.score.replace("{vector}", vector)


class PostgresIndex:
    def __init__(self, url: str, *, max_size: int = 4) -> None:
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            open=True,
            kwargs={"autocommit": False},
            check=ConnectionPool.check_connection,
            name="newsflow-search",
        )
        try:
            with self._pool.connection() as conn:
                self._migrate(conn)
            with self._pool.connection() as conn:
                folds = _fetch_bool(conn, "SELECT newsflow_fold('Lavróv') = 'Lavrov'")
        except BaseException:
            self._pool.close()
            raise
        self.unaccent = folds
        """Whether diacritics are folded (the `unaccent` extension was available)."""

    # -- schema ------------------------------------------------------------------------

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        if self._schema_current(conn):
            return
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(coalesce(current_schema(), '')))",
            [_LOCK_CLASS],
        )
        conn.execute(_SCHEMA_TABLE)
        if not _fetch_bool(conn, _FOLD_EXISTS):
            self._create_fold(conn)
        for statement in _SCHEMA:
            conn.execute(statement)
        for version in range(2, SCHEMA_VERSION + 1):  # idempotent, so run them all
            for statement in _MIGRATIONS.get(version, ()):
                conn.execute(statement)
        conn.execute(
            "INSERT INTO newsflow_schema (component, version) VALUES (%s, %s)"
            " ON CONFLICT (component) DO UPDATE"
            " SET version = greatest(newsflow_schema.version, excluded.version),"
            " updated_at = now()",
            [_COMPONENT, SCHEMA_VERSION],
        )

    @staticmethod
    def _schema_current(conn: psycopg.Connection[Any]) -> bool:
        """Whether every table and index exists at this version: then no DDL (no locks)."""
        row = conn.execute(
            "SELECT count(*) FROM pg_class"
            " WHERE relnamespace = current_schema()::regnamespace AND relname = ANY(%s)",
            [list(_RELATIONS)],
        ).fetchone()
        if not row or row[0] != len(_RELATIONS):
            return False
        row = conn.execute(
            "SELECT version FROM newsflow_schema WHERE component = %s", [_COMPONENT]
        ).fetchone()
        return bool(row and row[0] >= SCHEMA_VERSION)

    @staticmethod
    def _create_fold(conn: psycopg.Connection[Any]) -> None:
        """`newsflow_fold`: unaccent when the extension can be had, else the identity."""
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
                row = conn.execute(
                    "SELECT n.nspname FROM pg_extension e"
                    " JOIN pg_namespace n ON n.oid = e.extnamespace"
                    " WHERE e.extname = 'unaccent'"
                ).fetchone()
                if row is not None:
                    schema = str(row[0])
                    dictionary = sql.Identifier(schema, "unaccent").as_string(conn)
                    body = sql.SQL("SELECT {}.unaccent({}::regdictionary, $1)").format(
                        sql.Identifier(schema), sql.Literal(dictionary)
                    )
                    conn.execute(sql.SQL(_FOLD_SIGNATURE).format(sql.Literal(body.as_string(conn))))
                    return
        except psycopg.Error:
            pass  # no extension (not installed, or no privilege): fold nothing
        conn.execute(sql.SQL(_FOLD_SIGNATURE).format(sql.Literal("SELECT $1")))

    # -- writes ------------------------------------------------------------------------

    def upsert(self, article: ArticleExtracted) -> int:
        return self.upsert_many([article])[0]

    def upsert_many_now(self, articles: list[ArticleExtracted]) -> None:
        """Never at once: every write waits on the server."""

    def upsert_many(self, articles: list[ArticleExtracted]) -> list[int]:
        if not articles:
            return []
        revisions: list[int] = []
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(_UPSERT, [article_row(a) for a in articles], returning=True)
            while True:
                row = cur.fetchone()
                assert row is not None
                revisions.append(int(row[0]))
                if not cur.nextset():
                    break
            cur.execute(
                "DELETE FROM article_entities WHERE article_id = ANY(%s)",
                [list({_text(a.article_id) for a in articles})],
            )
            rows = entity_rows(articles)
            if rows:
                with cur.copy(
                    "COPY article_entities (article_id, type, name, salience) FROM STDIN"
                ) as copy:
                    for entity in rows:
                        copy.write_row(entity)
        return revisions

    # -- reads -------------------------------------------------------------------------

    def get(self, article_id: str) -> dict[str, Any] | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT document::text, revision,"
                """ to_char(indexed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
                " FROM articles WHERE id = %s",
                [_text(article_id)],
            ).fetchone()
        if row is None:
            return None
        document: dict[str, Any] = json.loads(row[0])
        return {**document, "revision": row[1], "indexed_at": row[2]}

    def _fold(self, conn: psycopg.Connection[Any], tokens: list[Token]) -> list[Token]:
        """The terms with diacritics folded as the stored text was (before quoting)."""
        words = [w for t in tokens if isinstance(t, Term) for w in t.words]
        if not self.unaccent or all(w.isascii() for w in words):
            return tokens
        row = conn.execute(
            "SELECT array_agg(newsflow_fold(w) ORDER BY i)"
            " FROM unnest(%s::text[]) WITH ORDINALITY AS t (w, i)",
            [[_text(w) for w in words]],
        ).fetchone()
        folded = iter(row[0] if row and row[0] else words)
        return [
            Term(tuple(next(folded) for _ in t.words), t.prefix) if isinstance(t, Term) else t
            for t in tokens
        ]

    def _matched(
        self, conn: psycopg.Connection[Any], query: SearchQuery, tokens: list[Token]
    ) -> _Matched:
        if tokens:
            matched = _Matched(
                where="a.search @@ to_tsquery('simple', %(tsquery)s)",
                score=(
                    f"round(ts_rank_cd('{_RANK_WEIGHTS}'::real[], {{vector}},"
                    f" to_tsquery('simple', %(tsquery)s), {_RANK_NORMALIZATION})::numeric,"
                    f" {_SCORE_DIGITS})"
                ),
                params={"tsquery": to_tsquery(self._fold(conn, tokens))},
                words=highlight_words(tokens),
            )
        else:
            matched = _Matched(where="TRUE", score="0::numeric")
        for kind in ENTITY_FIELDS:
            for i, name in enumerate(getattr(query, kind)):
                key = f"{kind}{i}"
                matched.where += (
                    " AND a.id IN (SELECT article_id FROM article_entities"
                    f" WHERE type = '{kind}' AND lower(name) = lower(%({key})s))"
                )
                matched.params[key] = _text(name)
        for column, value in (
            ("source", query.source),
            ("language", query.lang),
            ("story_id", query.story),
        ):
            if value:
                matched.where += f" AND a.{column} = %({column})s"
                matched.params[column] = _text(value)
        if query.date_from:
            matched.where += " AND a.published >= %(date_from)s"
            matched.params["date_from"] = query.date_from
        if query.date_to:
            matched.where += " AND a.published <= %(date_to)s"
            matched.params["date_to"] = query.date_to
        return matched

    def search(self, query: SearchQuery) -> SearchResult:
        tokens = parse_query(query.q) if query.q.strip() else []
        by_date = query.sort == "date" or not tokens
        after, after_params = _after(query.cursor, by_date)
        order = "published DESC NULLS LAST, id" if by_date else "score DESC, id"
        try:
            with self._pool.connection() as conn:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                if tokens:
                    # The planner does not price detoasting each tsvector, and picks a seq
                    # scan for common words: 10x slower than the GIN bitmap scan it skips.
                    conn.execute("SET LOCAL enable_seqscan = off")
                matched = self._matched(conn, query, tokens)
                if by_date:  # ranking reads a match's whole tsvector: rank only the page
                    ranked, score_sql = "a.search", matched.ranked("search")
                else:
                    ranked, score_sql = f"{matched.ranked('a.search')} AS score", "score"
                rows = conn.execute(
                    f"SELECT id, {score_sql} AS score, published, url, title, text, source FROM ("
                    f" SELECT * FROM (SELECT a.id, {ranked}, a.published, a.url, a.title,"
                    f" a.text, a.source FROM articles a WHERE {matched.where}) m"
                    f" WHERE {after} ORDER BY {order} LIMIT %(limit)s"
                    f") page ORDER BY {order}",
                    {**matched.params, **after_params, "limit": query.limit + 1},
                ).fetchall()
                total, facets = self._facets(conn, matched)
        except _QUERY_ERRORS as exc:
            raise QueryError(f"query cannot be run: {exc}") from exc
        page = rows[: query.limit]
        next_cursor = None
        if len(rows) > query.limit:
            ident, score, published = page[-1][:3]
            key: Any = (published.isoformat() if published else "") if by_date else float(score)
            next_cursor = encode_cursor([key, ident])
        hits = [
            SearchHit(
                id=ident,
                url=url,
                title=title,
                snippet=highlight(text, matched.words),
                published=published.isoformat() if published else None,
                source=source,
                score=round(float(score), _SCORE_DIGITS),
            )
            for ident, score, published, url, title, text, source in page
        ]
        return SearchResult(total=total, hits=hits, facets=facets, next_cursor=next_cursor)

    @staticmethod
    def _facets(
        conn: psycopg.Connection[Any], matched: _Matched
    ) -> tuple[int, dict[str, list[FacetCount]]]:
        """The number of matches and the top values of each facet, in one statement."""
        rows = conn.execute(
            f"WITH matched AS MATERIALIZED ("
            f" SELECT a.id, a.source, a.language, a.story_id FROM articles a"
            f" WHERE {matched.where}"
            "), meta AS ("
            " SELECT CASE GROUPING(source, language, story_id)"
            "   WHEN 3 THEN 'source' WHEN 5 THEN 'lang' WHEN 6 THEN 'story' ELSE '' END"
            "   AS field, coalesce(source, language, story_id) AS value, count(*) AS n"
            " FROM matched GROUP BY GROUPING SETS ((source), (language), (story_id), ())"
            "), entity AS ("
            ' SELECT e.type AS field, min(e.name COLLATE "C") AS value, count(*) AS n,'
            " lower(e.name) AS key"
            " FROM article_entities e JOIN matched m ON m.id = e.article_id"
            " WHERE e.type = ANY(%(facet_types)s) GROUP BY e.type, lower(e.name)"
            ") SELECT field, value, n FROM ("
            " SELECT field, value, n, row_number() OVER ("
            '   PARTITION BY field ORDER BY n DESC, key COLLATE "C", value COLLATE "C") AS r'
            " FROM (SELECT field, value, n, value AS key FROM meta"
            "       WHERE value IS NOT NULL OR field = ''"
            "       UNION ALL SELECT field, value, n, key FROM entity) counts"
            ") ranked WHERE r <= %(facet_size)s ORDER BY field, r",
            {
                **matched.params,
                "facet_types": [f for f in FACET_FIELDS if f in ENTITY_FIELDS],
                "facet_size": FACET_SIZE,
            },
        ).fetchall()
        total = 0
        facets: dict[str, list[FacetCount]] = {name: [] for name in FACET_FIELDS}
        for name, value, n in rows:
            if name == "":
                total = int(n)
            elif name in facets:
                facets[name].append(FacetCount(value, int(n)))
        return total, facets

    def story(self, story_id: str, limit: int = 50) -> list[SearchHit]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, url, title, text, published, source FROM articles"
                " WHERE story_id = %s ORDER BY published DESC NULLS LAST, id LIMIT %s",
                [_text(story_id), limit if limit >= 0 else None],
            ).fetchall()
        return [
            SearchHit(
                id=ident,
                url=url,
                title=title,
                snippet=highlight(text, []),
                published=published.isoformat() if published else None,
                source=source,
                score=0.0,
            )
            for ident, url, title, text, published, source in rows
        ]

    def entities(self, prefix: str, limit: int = 20) -> list[EntityCount]:
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._pool.connection() as conn:
            rows = conn.execute(
                'SELECT min(name COLLATE "C"), type, count(*) AS n'
                " FROM article_entities WHERE lower(name) LIKE lower(%s) ESCAPE '\\'"
                ' GROUP BY lower(name), type ORDER BY n DESC, lower(name) COLLATE "C", type'
                " LIMIT %s",
                [_text(pattern), limit if limit >= 0 else None],
            ).fetchall()
        return [EntityCount(name, kind, int(n)) for name, kind, n in rows]

    def count(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM articles").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._pool.close()


def _fetch_bool(conn: psycopg.Connection[Any], query: str) -> bool:
    row = conn.execute(query).fetchone()
    return bool(row and row[0])


def _after(cursor: str | None, by_date: bool) -> tuple[str, dict[str, Any]]:
    """The keyset condition for the page after `cursor`, in the page's order."""
    if not cursor:
        return "TRUE", {}
    last_key, last_id = decode_cursor(cursor)
    if not isinstance(last_id, str):
        raise QueryError("cursor is not one this API returned")
    params: dict[str, Any] = {"after_id": last_id}
    if by_date:
        if last_key == "":
            return "published IS NULL AND id > %(after_id)s", params
        if not isinstance(last_key, str):
            raise QueryError("cursor is not one this API returned")
        params["after_key"] = _published(last_key)
        if params["after_key"] is None or len(last_key) != 10:
            raise QueryError("cursor is not one this API returned")
        return (
            "(published < %(after_key)s OR published IS NULL"
            " OR (published = %(after_key)s AND id > %(after_id)s))",
            params,
        )
    if (
        isinstance(last_key, bool)
        or not isinstance(last_key, int | float)
        or not math.isfinite(last_key)
    ):
        raise QueryError("cursor is not one this API returned")
    params["after_key"] = Decimal(repr(last_key))
    return "(score < %(after_key)s OR (score = %(after_key)s AND id > %(after_id)s))", params
