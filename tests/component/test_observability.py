"""Metrics, health and readiness of a worker and the API, against a real Valkey server."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from shared.observability import MetricsPortUnavailable, health_server
from shared.settings import Settings
from shared.streams import FETCH, INGEST, article_key
from shared.urls import article_id
from tests.component.fetch_helpers import fetch_runner
from tests.component.helpers import api_client, running, wait_for_entries, wait_for_status
from tests.conftest import PAGES, PageServer, free_port

pytestmark = pytest.mark.component

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, app_name: str) -> float:
    """One FastStream metric summed over its handlers, for one app."""
    return sum(
        v for (n, labels), v in samples.items() if n == name and ("app_name", app_name) in labels
    )


def published(samples: Samples, app_name: str) -> float:
    return total(samples, "faststream_published_messages_total", app_name)


async def test_worker_serves_metrics_health_and_readiness(
    redis: Redis, settings: Settings, page_server: PageServer
) -> None:
    port = free_port()
    runner = fetch_runner(settings.model_copy(update={"metrics_port": port}))
    spans = InMemorySpanExporter()
    runner.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        async with running(runner):
            before = parse_metrics((await http.get("/metrics")).text)
            await redis.xadd(
                FETCH.reads, {"url": page_server.url("tass-2019-lavrov-rovaniemi.html")}
            )
            await redis.xadd(FETCH.reads, {"url": page_server.url("gone")})
            await wait_for_entries(redis, FETCH.writes, 1)
            await wait_for_status(
                redis, article_key(article_id(page_server.url("gone"))), {"failed"}
            )
            assert (await http.get("/health")).status_code == 200
            assert (await http.get("/ready")).status_code == 200
            assert (await http.get("/nothing")).status_code == 404
            response = await http.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain; version=")
        after = parse_metrics(response.text)
        with pytest.raises(httpx.ConnectError):
            await http.get("/health")

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("newsflow_articles_total", stage="fetch", outcome="passed") == 1
    assert grew("newsflow_articles_total", stage="fetch", outcome="failed") == 1
    assert grew("newsflow_fetch_responses_total", code="200") == 1
    assert grew("newsflow_fetch_responses_total", code="404") == 1
    page_bytes = (PAGES / "tass-2019-lavrov-rovaniemi.html").stat().st_size
    assert grew("newsflow_fetch_bytes_total") == page_bytes
    assert value(after, "newsflow_stream_length", stream=INGEST) == 2
    assert value(after, "newsflow_stream_pending", stream=INGEST, group=FETCH.group) == 0
    assert value(after, "newsflow_stream_lag", stream=INGEST, group=FETCH.group) == 0
    assert value(after, "newsflow_stream_consumers", stream=INGEST, group=FETCH.group) == 1
    assert value(after, "newsflow_dead_letters", stage="fetch") == 1
    received = "faststream_received_processed_messages_total"
    assert total(after, received, "newsflow-fetch") - total(before, received, "newsflow-fetch") == 2

    (processed,) = [
        s
        for s in spans.get_finished_spans()
        if (s.attributes or {}).get("newsflow.outcome") == "passed"
    ]
    attributes = processed.attributes or {}
    assert attributes["newsflow.size_bytes"] == page_bytes
    assert attributes["newsflow.stage"] == "fetch"
    assert len(str(attributes["newsflow.content_hash"])) == 64


async def test_worker_is_not_ready_until_its_broker_runs(redis: Redis, settings: Settings) -> None:
    port = free_port()
    runner = fetch_runner(settings.model_copy(update={"metrics_port": port}))
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as http, runner.lifespan():
        assert (await http.get("/health")).status_code == 200
        not_ready = await http.get("/ready")
        await runner.broker.start()
        try:
            ready = await http.get("/ready")
        finally:
            await runner.broker.stop()
    assert not_ready.status_code == 503
    assert "not ready" in not_ready.text
    assert ready.status_code == 200


async def test_worker_serves_no_port_unless_told(redis: Redis, settings: Settings) -> None:
    assert settings.metrics_port is None
    port = free_port()
    async with running(fetch_runner(settings)), httpx.AsyncClient(timeout=2) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/health")


async def test_api_metrics_show_every_stage_and_what_it_published(
    redis: Redis, settings: Settings, page_server: PageServer
) -> None:
    async with api_client(settings) as client:
        before = parse_metrics((await client.get("/metrics")).text)
        submitted = await client.post(
            "/v1/articles", json={"urls": [page_server.url("a.html"), page_server.url("b.html")]}
        )
        assert submitted.status_code == 202
        samples = parse_metrics((await client.get("/metrics")).text)
    assert value(samples, "newsflow_stream_length", stream=INGEST) == 2
    # No stage runs here, so the fetch group does not exist yet and has no lag to report.
    assert (
        "newsflow_stream_lag",
        frozenset({("stream", INGEST), ("group", "fetch")}),
    ) not in samples
    assert published(samples, "newsflow-api") - published(before, "newsflow-api") == 2
    for stage in ("fetch", "clean", "extract", "index"):
        assert ("newsflow_dead_letters", frozenset({("stage", stage)})) in samples


async def test_a_taken_metrics_port_is_a_clear_error(redis: Redis, settings: Settings) -> None:
    port = free_port()
    taken = settings.model_copy(update={"metrics_port": port})

    async def ready() -> bool:
        return True

    async with health_server(taken, redis, [FETCH], ready) as first:
        assert first is not None
        assert first.port == port
        with pytest.raises(
            MetricsPortUnavailable, match=f"127.0.0.1:{port}.*NEWSFLOW_METRICS_PORT"
        ):
            async with health_server(taken, redis, [FETCH], ready):
                pass
