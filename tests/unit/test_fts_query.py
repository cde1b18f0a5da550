"""shared.search.to_fts_query: user queries become FTS5 syntax that cannot be injected."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from shared.search import QueryError, to_fts_query

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("putin", '"putin"'),
        ("putin trump", '"putin" AND "trump"'),
        ('"white house" putin', '"white house" AND "putin"'),
        ('"  white   house "', '"white house"'),
        ("putin AND trump", '"putin" AND "trump"'),
        ("putin OR trump", '"putin" OR "trump"'),
        ("putin NOT trump", '"putin" NOT "trump"'),
        ("putin and trump", '"putin" AND "and" AND "trump"'),
        ("trum*", '"trum"*'),
        ("lav* pompeo", '"lav"* AND "pompeo"'),
        ("Путин", '"Путин"'),
        ("o'brien U.S. x-ray", '"o\'brien" AND "U.S." AND "x-ray"'),
        ('foo "" bar', '"foo" AND "bar"'),
    ],
)
def test_translation(query: str, expected: str) -> None:
    assert to_fts_query(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("foo) OR (bar", '"foo" OR "bar"'),
        ("a:b", '"a" AND "b"'),
        ("col:value", '"col" AND "value"'),
        ("title:putin", '"title" AND "putin"'),
        ("NEAR(putin trump, 2)", '"NEAR" AND "putin" AND "trump" AND "2"'),
        ("^putin -trump +lavrov", '"putin" AND "trump" AND "lavrov"'),
        ('"a" OR "b" AND "c"', '"a" OR "b" AND "c"'),
        ('"foo:bar (baz)"', '"foo bar baz"'),
    ],
)
def test_punctuation_cannot_inject_fts_syntax(query: str, expected: str) -> None:
    assert to_fts_query(query) == expected


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    """An in-memory FTS5 table, to show the translations are valid FTS5 and mean what they say."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(title, text)")
    db.executemany(
        "INSERT INTO docs(rowid, title, text) VALUES (?, ?, ?)",
        [
            (1, "Putin and Trump", "The presidents spoke by phone."),
            (2, "Lavrov meets Pompeo", "Talks in Rovaniemi, Finland."),
            (3, "col value", "A page about foo and bar."),
        ],
    )
    yield db
    db.close()


def _match(db: sqlite3.Connection, expression: str) -> set[int]:
    rows = db.execute("SELECT rowid FROM docs WHERE docs MATCH ?", (expression,)).fetchall()
    return {int(row[0]) for row in rows}


@pytest.mark.parametrize(
    ("query", "rows"),
    [
        ("col:value", {3}),
        ("foo) OR (bar", {3}),
        ("title:putin", set()),  # "title" is a word here, not a column filter
        ("NEAR(putin trump, 2)", set()),
        ("putin NOT trump", set()),
        ("putin OR lavrov", {1, 2}),
        ("trum*", {1}),
        ('"lavrov meets"', {2}),
    ],
)
def test_translations_run_in_fts5(fts: sqlite3.Connection, query: str, rows: set[int]) -> None:
    assert _match(fts, to_fts_query(query)) == rows


@pytest.mark.parametrize("raw", ["col:value", "foo) OR (bar", "NEAR(putin trump, 2"])
def test_the_raw_inputs_would_have_been_fts5_syntax(fts: sqlite3.Connection, raw: str) -> None:
    # Guards the test above: these inputs are not harmless by accident.
    with pytest.raises(sqlite3.OperationalError):
        _match(fts, raw)


@pytest.mark.parametrize(
    ("query", "reason_part"),
    [
        ('"unbalanced', "unbalanced quotes"),
        ('putin "white house', "unbalanced quotes"),
        ("AND", "AND needs a term before it"),
        ("OR trump", "OR needs a term before it"),
        ("NOT putin", "NOT needs a term before it"),
        ("putin AND OR trump", "OR needs a term before it"),
        ("putin OR", "OR needs a term after it"),
        ("putin NOT", "NOT needs a term after it"),
        ("", "no words"),
        ("   ", "no words"),
        ('""', "no words"),
        ("!!! ... ?", "no words"),
        ("*", "no words"),
    ],
)
def test_query_errors_name_the_problem(query: str, reason_part: str) -> None:
    with pytest.raises(QueryError, match=reason_part):
        to_fts_query(query)
