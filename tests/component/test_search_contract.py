"""One contract, two backends: SQLite FTS5 on a real file and PostgreSQL on a real server.

PostgreSQL is the server named by NEWSFLOW_TEST_POSTGRES_URL, or one on localhost when it
answers; without either, its half of the suite is skipped with the reason shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from shared.schemas import ArticleExtracted, Content, Entity, EntityType, Mention
from shared.search import QueryError, SearchIndex, SearchQuery, open_index
from shared.search.base import Sort

pytestmark = pytest.mark.component


@pytest.fixture(params=["sqlite", "postgresql"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchIndex]:
    if request.param == "sqlite":
        store = open_index(f"sqlite:///{tmp_path / 'index.db'}")
    else:
        url: str = request.getfixturevalue("postgres_url")
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS article_entities, articles CASCADE")
        store = open_index(url)
    try:
        yield store
    finally:
        store.close()


def _entity(name: str, kind: EntityType) -> Entity:
    return Entity(
        name=name, type=kind, mentions=[Mention(text=name, start=0, end=len(name))], salience=0.5
    )


def _article(
    ident: str,
    title: str,
    text: str,
    *,
    published: str | None = "2019-05-06",
    source: str = "example.com",
    lang: str | None = "en",
    story: str | None = None,
    people: tuple[str, ...] = (),
    places: tuple[str, ...] = (),
    orgs: tuple[str, ...] = (),
) -> ArticleExtracted:
    entities = (
        [_entity(p, EntityType.PERSON) for p in people]
        + [_entity(p, EntityType.PLACE) for p in places]
        + [_entity(o, EntityType.ORGANIZATION) for o in orgs]
    )
    return ArticleExtracted(
        article_id=ident,
        url=f"https://www.{source}/{ident}",
        content=Content(title=title, text=text, published=published, language=lang),
        entities=entities,
        story_id=story,
        extracted_at=datetime(2019, 5, 6, tzinfo=UTC),
    )


CORPUS = [
    _article("a1", "Lavrov meets Pompeo", "Talks in Finland on strategic stability.",
             published="2019-05-06", source="tass.com", story="s2019",
             people=("Sergey Lavrov", "Mike Pompeo"), places=("Finland",), orgs=("Kremlin",)),
    _article("a2", "Peskov on a phone call", "Peskov said Lavrov was not involved in the call.",
             published="2017-01-23", source="tass.com", story="s2017",
             people=("Dmitry Peskov", "Sergey Lavrov"), places=("Moscow",), orgs=("Kremlin",)),
    _article("a3", "Summit in Osaka", "Trump expects to meet Putin in Osaka at the summit.",
             published="2019-05-14", source="7dnews.com", story="s2019",
             people=("Donald Trump", "Vladimir Putin"), places=("Osaka",)),
    _article("a4", "Gipfel in Osaka", "Trump und Putin treffen sich in Osaka.",
             published="2019-05-15", source="example.de", lang="de",
             people=("Donald Trump", "Vladimir Putin"), places=("Osaka",)),
    _article("a5", "Undated note", "A note about strategic talks without a date.", published=None),
]  # fmt: skip


@pytest.fixture
def corpus(index: SearchIndex) -> SearchIndex:
    assert index.upsert_many(CORPUS) == [1] * len(CORPUS)
    return index


def _ids(index: SearchIndex, **kwargs: object) -> list[str]:
    return [hit.id for hit in index.search(SearchQuery(**kwargs)).hits]  # type: ignore[arg-type]


def test_redelivery_leaves_one_document_and_a_change_bumps_the_revision(
    index: SearchIndex,
) -> None:
    first = _article("a1", "Lavrov meets Pompeo", "Sergey Lavrov met Mike Pompeo in Rovaniemi.")
    assert index.upsert(first) == 1
    assert index.upsert(first) == 1
    assert index.count() == 1
    changed = _article("a1", "Lavrov meets Pompeo", "Sergey Lavrov met Mike Pompeo in Sochi.")
    assert index.upsert(changed) == 2
    assert index.count() == 1
    assert index.search(SearchQuery(q="Rovaniemi")).total == 0
    assert index.search(SearchQuery(q="Sochi")).total == 1
    stored = index.get("a1")
    assert stored is not None
    assert stored["revision"] == 2
    assert stored["content"]["text"].endswith("Sochi.")
    assert index.get("missing") is None


def test_words_phrases_operators_and_prefixes(corpus: SearchIndex) -> None:
    result = corpus.search(SearchQuery(q="lavrov"))
    assert result.total == 2
    assert result.hits[0].id == "a1"  # the title match ranks first
    assert "<mark>Lavrov</mark>" in next(h for h in result.hits if h.id == "a2").snippet
    assert _ids(corpus, q='"strategic stability"') == ["a1"]
    assert sorted(_ids(corpus, q="strategic")) == ["a1", "a5"]
    assert _ids(corpus, q="lavrov NOT peskov") == ["a1"]
    assert sorted(_ids(corpus, q="finland OR phone")) == ["a1", "a2"]
    assert sorted(_ids(corpus, q="osaka AND summit")) == ["a3"]
    assert sorted(_ids(corpus, q="strat*")) == ["a1", "a5"]
    assert corpus.search(SearchQuery(q="nothing-matches-this")).total == 0


def test_filters_narrow_and_combine(corpus: SearchIndex) -> None:
    assert sorted(_ids(corpus, q="osaka", lang="de")) == ["a4"]
    assert sorted(_ids(corpus, person=("Sergey Lavrov",))) == ["a1", "a2"]
    assert sorted(_ids(corpus, person=("Sergey Lavrov", "Mike Pompeo"))) == ["a1"]
    assert sorted(_ids(corpus, organization=("Kremlin",), place=("Moscow",))) == ["a2"]
    assert sorted(_ids(corpus, source="tass.com")) == ["a1", "a2"]
    assert sorted(_ids(corpus, source="www.7dnews.com")) == ["a3"]
    assert sorted(_ids(corpus, story="s2019")) == ["a1", "a3"]
    assert sorted(_ids(corpus, date_from=date(2019, 5, 7))) == ["a3", "a4"]
    assert sorted(_ids(corpus, date_to=date(2019, 5, 6))) == ["a1", "a2"]
    assert sorted(
        _ids(corpus, q="putin", date_from=date(2019, 5, 1), date_to=date(2019, 5, 14))
    ) == ["a3"]


def test_facets_count_the_whole_match_not_the_page(corpus: SearchIndex) -> None:
    result = corpus.search(SearchQuery(q="osaka OR lavrov", limit=1))
    assert result.total == 4
    facets = {name: {f.value: f.count for f in counts} for name, counts in result.facets.items()}
    assert facets["person"]["Sergey Lavrov"] == 2
    assert facets["person"]["Donald Trump"] == 2
    assert facets["place"]["Osaka"] == 2
    assert facets["organization"] == {"Kremlin": 2}
    assert facets["source"] == {"tass.com": 2, "7dnews.com": 1, "example.de": 1}
    assert facets["lang"] == {"en": 3, "de": 1}
    assert facets["story"] == {"s2019": 2, "s2017": 1}


def test_sort_by_date_and_cursor_pages_cover_everything_once(corpus: SearchIndex) -> None:
    assert _ids(corpus, q="osaka OR lavrov OR note", sort="date") == ["a4", "a3", "a1", "a2", "a5"]
    sorts: tuple[Sort, ...] = ("date", "relevance")
    for sort in sorts:
        seen: list[str] = []
        cursor = None
        while True:
            result = corpus.search(
                SearchQuery(q="osaka OR lavrov OR note", sort=sort, limit=2, cursor=cursor)
            )
            assert result.total == 5
            seen += [hit.id for hit in result.hits]
            cursor = result.next_cursor
            if cursor is None:
                break
        assert sorted(seen) == ["a1", "a2", "a3", "a4", "a5"], sort
        assert len(seen) == 5


def test_stories_and_entities(corpus: SearchIndex) -> None:
    assert [hit.id for hit in corpus.story("s2019")] == ["a3", "a1"]
    assert corpus.story("unknown") == []
    found = {(e.name, e.type): e.articles for e in corpus.entities("sergey")}
    assert found == {("Sergey Lavrov", "person"): 2}
    assert [e.name for e in corpus.entities("O")] == ["Osaka"]
    assert corpus.entities("%") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"q": '"unbalanced'}, "unbalanced quotes"),
        ({"q": "AND"}, "needs a term"),
        ({"q": "putin OR"}, "needs a term after"),
        ({"q": "NOT putin"}, "NOT needs a term before"),
        ({"q": "!!! ???"}, "no words"),
        ({"q": "x", "cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_queries_say_why(index: SearchIndex, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        index.search(SearchQuery(**kwargs))  # type: ignore[arg-type]


def test_query_values_are_checked_before_any_backend() -> None:
    with pytest.raises(QueryError, match="limit"):
        SearchQuery(q="x", limit=0)
    with pytest.raises(QueryError, match="after"):
        SearchQuery(q="x", date_from=date(2020, 1, 2), date_to=date(2020, 1, 1))
    with pytest.raises(QueryError, match="at least one filter"):
        SearchQuery()


def test_unknown_backend_is_named() -> None:
    with pytest.raises(ValueError, match="unsupported search index URL scheme 'mysql'"):
        open_index("mysql://localhost/newsflow")


def test_an_older_sqlite_file_is_migrated_at_start(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE articles (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, url TEXT,"
        " source TEXT, title TEXT, text TEXT, published TEXT, language TEXT, document TEXT,"
        " revision INTEGER NOT NULL DEFAULT 1, indexed_at TEXT)"
    )
    old.execute(
        "INSERT INTO articles (id, url, source, title, text, document)"
        " VALUES ('old-1', 'https://example.com/o', 'example.com', 'Old', 'Written before', '{}')"
    )
    old.commit()
    old.close()
    index = open_index(f"sqlite:///{path}")
    try:
        index.upsert(CORPUS[0])
        assert [hit.id for hit in index.story("s2019")] == ["a1"]
        assert [hit.id for hit in index.search(SearchQuery(q="before")).hits] == ["old-1"]
    finally:
        index.close()
