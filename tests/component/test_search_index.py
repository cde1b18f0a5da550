"""The SQLite FTS5 index on a real file: idempotent upserts, search, bad queries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.schemas import ArticleExtracted, Content
from shared.search import QueryError, SQLiteIndex, open_index

pytestmark = pytest.mark.component


def _article(ident: str, title: str, text: str) -> ArticleExtracted:
    return ArticleExtracted(
        article_id=ident,
        url=f"https://www.example.com/{ident}",
        content=Content(title=title, text=text, published="2019-05-06"),
        entities=[],
        extracted_at=datetime(2019, 5, 6, tzinfo=UTC),
    )


@pytest.fixture
def index(tmp_path: Path) -> SQLiteIndex:
    store = open_index(f"sqlite:///{tmp_path / 'index.db'}")
    assert isinstance(store, SQLiteIndex)
    return store


def test_redelivery_leaves_one_document_and_a_change_bumps_the_revision(
    index: SQLiteIndex,
) -> None:
    first = _article("a1", "Lavrov meets Pompeo", "Sergey Lavrov met Mike Pompeo in Rovaniemi.")
    assert index.upsert(first) == 1
    assert index.upsert(first) == 1
    assert index.count() == 1
    changed = _article("a1", "Lavrov meets Pompeo", "Sergey Lavrov met Mike Pompeo in Sochi.")
    assert index.upsert(changed) == 2
    assert index.count() == 1
    assert index.search("Rovaniemi").total == 0
    assert index.search("Sochi").total == 1
    stored = index.get("a1")
    assert stored is not None
    assert stored["revision"] == 2
    assert stored["content"]["text"].endswith("Sochi.")


def test_search_ranks_highlights_and_counts(index: SQLiteIndex) -> None:
    index.upsert(_article("a1", "Lavrov meets Pompeo", "Talks in Finland on strategic stability."))
    index.upsert(_article("a2", "Peskov on a phone call", "Peskov said Lavrov was not involved."))
    index.upsert(_article("a3", "Summit in Osaka", "Trump expects to meet Putin in Osaka."))
    result = index.search("lavrov")
    assert result.total == 2
    assert [hit.id for hit in result.hits] == ["a1", "a2"]  # the title match ranks first
    assert "<mark>Lavrov</mark>" in result.hits[1].snippet
    assert index.search('"strategic stability"').total == 1
    assert index.search("lavrov NOT peskov").total == 1
    assert index.search("osaka OR finland").total == 2
    assert index.search("strat*").total == 1
    assert index.search("lavrov", limit=1).total == 2
    assert len(index.search("lavrov", limit=1).hits) == 1
    assert index.search("Lavróv").total == 2  # diacritics folded


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('"unbalanced', "unbalanced quotes"),
        ("AND", "needs a term"),
        ("putin OR", "needs a term after"),
        ("NOT putin", "NOT needs a term before"),
        ("!!! ???", "no words"),
    ],
)
def test_bad_queries_say_why(index: SQLiteIndex, query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        index.search(query)


def test_unknown_backend_is_named() -> None:
    with pytest.raises(ValueError, match="unsupported search index URL scheme 'mysql'"):
        open_index("mysql://localhost/newsflow")
