"""The HTTP API against a real Valkey server: submission, bad input, status, search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from shared.settings import Settings
from shared.streams import INGEST
from shared.urls import article_id
from tests.component.helpers import api_client

pytestmark = pytest.mark.component


@pytest.fixture(params=["sqlite", "postgresql"])
def api_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The API on each search backend: the SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return settings
    url: str = request.getfixturevalue("postgres_url")
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS article_entities, articles CASCADE")
    return settings.model_copy(update={"index_url": url})


@pytest.fixture
async def client(api_settings: Settings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, called in-process; `redis` has emptied the database."""
    async with api_client(api_settings) as c:
        yield c


async def test_submit_answers_in_request_order_with_stable_ids(
    client: httpx.AsyncClient, redis: Redis
) -> None:
    urls = ["https://Example.com/a?utm_source=x", "https://example.com/b"]
    response = await client.post("/v1/articles", json={"urls": urls})
    assert response.status_code == 202
    articles = response.json()["articles"]
    assert [a["url"] for a in articles] == ["https://example.com/a", "https://example.com/b"]
    assert [a["id"] for a in articles] == [article_id(a["url"]) for a in articles]
    assert {a["status"] for a in articles} == {"queued"}
    assert await redis.xlen(INGEST) == 2

    again = await client.post("/v1/articles", json={"urls": ["https://example.com/a#top"]})
    assert again.json()["articles"][0]["id"] == articles[0]["id"]
    assert await redis.xlen(INGEST) == 2  # known: not queued twice

    forced = await client.post(
        "/v1/articles", json={"urls": ["https://example.com/a"], "force": True}
    )
    assert forced.status_code == 202
    assert await redis.xlen(INGEST) == 3

    status = (await client.get(f"/v1/articles/{articles[1]['id']}")).json()
    assert status["status"] == "queued"
    assert status["url"] == "https://example.com/b"
    assert len(status["trace_id"]) == 32


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{not json", "JSON"),
        ({}, "urls"),
        ({"urls": "https://example.com/a"}, "valid list"),
        ({"urls": []}, "at least one URL"),
        ({"urls": ["https://example.com/ok", "ftp://example.com/x", "not a url"]}, "ftp"),
        ({"urls": ["https://example.com/ok"], "extra": 1}, "extra"),
    ],
)
async def test_bad_input_is_a_4xx_naming_the_problem_and_nothing_is_queued(
    client: httpx.AsyncClient, redis: Redis, body: Any, expected: str
) -> None:
    if isinstance(body, str):
        response = await client.post(
            "/v1/articles", content=body, headers={"Content-Type": "application/json"}
        )
    else:
        response = await client.post("/v1/articles", json=body)
    assert 400 <= response.status_code < 500
    assert expected in response.text
    assert await redis.xlen(INGEST) == 0


async def test_each_bad_url_is_named(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/articles",
        json={"urls": ["https://example.com/ok", "ftp://x/y", "javascript:alert(1)"]},
    )
    assert response.status_code == 422
    problems = response.json()["detail"]
    assert [p["loc"][-1] for p in problems] == [1, 2]
    assert all("scheme must be http or https" in p["msg"] for p in problems)


async def test_unknown_article_and_bad_search(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/articles/nope")).status_code == 404
    bad = await client.get("/v1/search", params={"q": '"unbalanced'})
    assert bad.status_code == 400
    assert "unbalanced quotes" in bad.json()["detail"]
    assert (await client.get("/v1/search", params={"q": "x", "limit": 0})).status_code == 400
    empty = (await client.get("/v1/search", params={"q": "nothing indexed yet"})).json()
    assert (empty["total"], empty["hits"], empty["next_cursor"]) == (0, [], None)


async def test_health_and_docs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/v1/articles", "/v1/articles/{article_id}", "/v1/search"} <= set(paths)


@pytest.fixture
def indexed_two(api_settings: Settings) -> None:
    """Two articles in the index file the API reads, as the index stage would store them."""
    from datetime import UTC, datetime

    from shared.schemas import ArticleExtracted, Content, Entity, EntityType, Mention
    from shared.search import open_index

    def article(ident: str, text: str, person: str, published: str) -> ArticleExtracted:
        mention = Mention(text=person, start=0, end=len(person))
        return ArticleExtracted(
            article_id=ident,
            url=f"https://tass.com/{ident}",
            content=Content(title=f"Title {ident}", text=text, published=published, language="en"),
            entities=[
                Entity(name=person, type=EntityType.PERSON, mentions=[mention], salience=1.0)
            ],
            story_id="s1",
            extracted_at=datetime.now(UTC),
        )

    index = open_index(api_settings.search_index_url)
    index.upsert_many(
        [
            article(
                "a1", "Sergey Lavrov met Mike Pompeo in Finland.", "Sergey Lavrov", "2019-05-06"
            ),
            article("a2", "Dmitry Peskov spoke about Lavrov.", "Dmitry Peskov", "2017-01-23"),
        ]
    )
    index.close()


@pytest.mark.usefixtures("indexed_two")
async def test_search_filters_facets_pages_stories_and_entities(client: httpx.AsyncClient) -> None:
    found = (await client.get("/v1/search", params={"q": "lavrov", "limit": 1})).json()
    assert found["total"] == 2
    assert len(found["hits"]) == 1
    assert {f["value"]: f["count"] for f in found["facets"]["person"]} == {
        "Sergey Lavrov": 1,
        "Dmitry Peskov": 1,
    }
    rest = await client.get("/v1/search", params={"q": "lavrov", "cursor": found["next_cursor"]})
    assert [h["id"] for h in rest.json()["hits"]] != [h["id"] for h in found["hits"]]
    narrowed = await client.get(
        "/v1/search", params={"q": "lavrov", "person": "Dmitry Peskov", "from": "2017-01-01"}
    )
    assert [h["id"] for h in narrowed.json()["hits"]] == ["a2"]
    by_date = await client.get("/v1/search", params={"source": "tass.com", "sort": "date"})
    assert [h["id"] for h in by_date.json()["hits"]] == ["a1", "a2"]
    story = (await client.get("/v1/stories/s1")).json()
    assert [a["id"] for a in story["articles"]] == ["a1", "a2"]
    assert (await client.get("/v1/stories/nope")).status_code == 404
    entities = (await client.get("/v1/entities", params={"q": "serg"})).json()["entities"]
    assert entities == [{"name": "Sergey Lavrov", "type": "person", "articles": 1}]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "x", "colour": "red"}, "unknown search parameter(s): colour"),
        ({"q": "x", "from": "yesterday"}, "valid date"),
        ({"q": "x", "sort": "random"}, "relevance"),
        ({"q": "AND"}, "needs a term"),
        ({"q": "x", "from": "2020-02-01", "to": "2020-01-01"}, "after"),
        ({}, "at least one filter"),
    ],
)
async def test_bad_search_requests_are_400_with_the_reason(
    client: httpx.AsyncClient, params: dict[str, str], expected: str
) -> None:
    response = await client.get("/v1/search", params=params)
    assert response.status_code == 400
    assert expected in response.text


async def test_dead_letters_and_streams(client: httpx.AsyncClient, redis: Redis) -> None:
    from shared.streams import FETCH

    await redis.xadd(
        FETCH.dead_letters,
        {"stage": "fetch", "article_id": "a1", "reason": "HTTP 404 Not Found", "error": "X",
         "attempts": "1", "payload": '{"url": "https://example.com/a"}', "failed_at": "1.0"},
    )  # fmt: skip
    dead = (await client.get("/v1/dead")).json()["dead_letters"]
    assert [(d["article_id"], d["reason"]) for d in dead] == [("a1", "HTTP 404 Not Found")]
    assert (await client.get("/v1/dead", params={"stage": "nope"})).status_code == 400
    assert (await client.post("/v1/dead/fetch:1-1/replay")).status_code == 404
    replayed = await client.post(f"/v1/dead/{dead[0]['id']}/replay")
    assert replayed.status_code == 202
    assert await redis.xlen(FETCH.reads) == 1
    assert await redis.xlen(FETCH.dead_letters) == 0
    stages = (await client.get("/v1/streams")).json()["stages"]
    assert [s["stage"] for s in stages] == ["fetch", "clean", "extract", "index"]
    assert stages[0]["length"] == 1
