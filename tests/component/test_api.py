"""The HTTP API against a real Valkey server: submission, bad input, status, search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from services.api.app import create_app
from shared.settings import Settings
from shared.streams import INGEST
from shared.urls import article_id

pytestmark = pytest.mark.component


@pytest.fixture
async def client(settings: Settings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, called in-process; `redis` has emptied the database."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c,
    ):
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
    assert (await client.get("/v1/search", params={"q": "x", "limit": 0})).status_code == 422
    empty = await client.get("/v1/search", params={"q": "nothing indexed yet"})
    assert empty.json() == {"total": 0, "hits": []}


async def test_health_and_docs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/v1/articles", "/v1/articles/{article_id}", "/v1/search"} <= set(paths)
