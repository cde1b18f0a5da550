"""The extract and index stages against a real Valkey server and a real SQLite file: the
five sample pages come out of the API with their dateline, quotes, keywords, summary,
language, story and duplicate fields, and search filters by story and language."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faststream.redis import RedisBroker
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis
from threadpoolctl import threadpool_info, threadpool_limits

from services.clean.extraction import extract_article
from services.extract.worker import ExtractHandler
from services.index.worker import IndexHandler
from shared.schemas import ArticleCleaned
from shared.settings import Settings
from shared.status import StatusStore
from shared.streams import EXTRACT, INDEX
from shared.worker import StageRunner
from tests.component.helpers import api_client, running, wait_for_entries, wait_for_status

pytestmark = pytest.mark.component

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXPECTATIONS: dict[str, Any] = json.loads((FIXTURES / "expectations.json").read_text())


def _cleaned(page: str) -> ArticleCleaned:
    article = extract_article((FIXTURES / "pages" / page).read_text(encoding="utf-8"))
    return ArticleCleaned(
        article_id=page.removesuffix(".html"),
        url=f"https://example.com/{page}",
        content=article.content(),
        cleaned_at=datetime.now(UTC),
    )


async def test_sample_pages_through_extract_and_index_to_the_api(
    redis: Redis, settings: Settings
) -> None:
    events = [_cleaned(page) for page in EXPECTATIONS["pages"]]
    status = StatusStore(redis)
    for event in events:
        await status.submit(event.article_id, event.url)
    extract = StageRunner(EXTRACT, settings, ExtractHandler())
    index = StageRunner(INDEX, settings, IndexHandler(settings))
    async with running(extract), running(index):
        async with RedisBroker(settings.redis_url) as producer:
            for event in events:  # one at a time, as stories depend on what came before
                await producer.publish(event, stream=EXTRACT.reads)
                await wait_for_status(
                    redis, f"newsflow:article:{event.article_id}", {"indexed", "failed"}, 60
                )
        await wait_for_entries(redis, INDEX.writes, len(events))

    async with api_client(settings) as client:
        articles = {}
        for event in events:
            answer = (await client.get(f"/v1/articles/{event.article_id}")).json()
            assert answer["status"] == "indexed", answer
            articles[event.article_id] = answer["article"]
        rovaniemi = articles["tass-2019-lavrov-rovaniemi"]
        assert rovaniemi["dateline"]["place"] == "Rovaniemi"
        assert rovaniemi["dateline"]["date"] == "2019-05-06"
        assert rovaniemi["language"] == "en"
        assert rovaniemi["summary"].startswith("Russian Foreign Minister Sergey Lavrov")
        assert rovaniemi["keywords"]
        assert {"text", "speaker", "start", "end"} <= set(rovaniemi["quotes"][0])
        assert all(a["duplicate_of"] is None for a in articles.values())
        # Lavrov is one entity across the articles, whatever the page's spelling.
        lavrovs = {
            e["name"] for a in articles.values() for e in a["entities"] if "Lavrov" in e["name"]
        }
        assert len(lavrovs) == 1

        stories: dict[str, set[str]] = {}
        for ident, article in articles.items():
            stories.setdefault(article["story_id"], set()).add(ident)
        expected = [{p.removesuffix(".html") for p in story} for story in EXPECTATIONS["stories"]]
        assert sorted(map(sorted, stories.values())) == sorted(map(sorted, expected))
        for story_id, members in stories.items():
            found = (
                await client.get("/v1/search", params={"story": story_id, "lang": "en"})
            ).json()
            assert {hit["id"] for hit in found["hits"]} == members
            listed = (await client.get(f"/v1/stories/{story_id}")).json()
            assert {a["id"] for a in listed["articles"]} == members


async def test_the_extract_span_names_the_story_and_the_original_a_copy_copies(
    redis: Redis, settings: Settings
) -> None:
    original = _cleaned("tass-2017-peskov-phone-call.html")
    text = "Moscow Times staff\n" + original.content.text.replace("told reporters", "told press")
    copy = original.model_copy(
        update={
            "article_id": "copy",
            "url": "https://example.com/copy",
            "content": original.content.model_copy(update={"text": text}),
        }
    )
    status = StatusStore(redis)
    extract = StageRunner(EXTRACT, settings, ExtractHandler())
    spans = InMemorySpanExporter()
    extract.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    async with running(extract), RedisBroker(settings.redis_url) as producer:
        for event in (original, copy):
            await status.submit(event.article_id, event.url)
            await producer.publish(event, stream=EXTRACT.reads)
            await wait_for_status(
                redis, f"newsflow:article:{event.article_id}", {"extracted", "failed"}, 60
            )
    passed = {
        str(attributes["newsflow.article_id"]): attributes
        for attributes in (span.attributes or {} for span in spans.get_finished_spans())
        if attributes.get("newsflow.outcome") == "passed"
    }
    assert passed[original.article_id]["newsflow.story_id"] == original.article_id
    assert "newsflow.duplicate_of" not in passed[original.article_id]
    assert passed["copy"]["newsflow.story_id"] == original.article_id
    assert passed["copy"]["newsflow.duplicate_of"] == original.article_id


async def test_the_stage_keeps_its_numeric_library_to_the_set_threads(
    redis: Redis, settings: Settings
) -> None:
    """OpenBLAS would start a thread per core; the stage scales by processes instead."""
    with threadpool_limits(limits=None):  # restores this process's limits afterwards
        async with running(StageRunner(EXTRACT, settings, ExtractHandler())):
            blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas, "numpy's BLAS should be loaded by the extract stage"
        assert {pool["num_threads"] for pool in blas} == {settings.extract_math_threads}
