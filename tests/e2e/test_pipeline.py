"""The whole pipeline as a user runs it: `newsflow up` with its embedded Valkey, real pages
served on 127.0.0.1, traces exported over OTLP to a receiver in the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from shared.streams import INGEST, dead_letter_stream
from shared.urls import article_id, canonical_url
from tests.conftest import PAGES, PageServer
from tests.e2e.harness import REPO, Newsflow, free_ports_in_a_row, newsflow_up
from tests.e2e.otlp import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e

PAGES_2019 = [
    "tass-2019-lavrov-rovaniemi.html",
    "eirns-2019-lavrov-pompeo-finland.html",
    "7dnews-2019-pompeo-lavrov-sochi.html",
]
PAGES_2017 = ["usatoday-2017-putin-trump-call.html", "tass-2017-peskov-phone-call.html"]
SERVICES = [
    "newsflow-api",
    "newsflow-fetch",
    "newsflow-clean",
    "newsflow-extract",
    "newsflow-index",
]


@dataclass
class Traced:
    """`newsflow up` with its traces exported to a receiver in the test."""

    newsflow: Newsflow
    traces: OtlpReceiver
    metrics_port: int
    """The fetch stage's; clean, extract and index have the next ones."""


@pytest.fixture(scope="module")
def traced(page_server: PageServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    traces = OtlpReceiver()
    traces.start()
    metrics_port = free_ports_in_a_row(len(SERVICES) - 1)
    env = {
        "NEWSFLOW_FETCH_ALLOW": page_server.host_port,
        "NEWSFLOW_METRICS_PORT": str(metrics_port),
        "OTEL_EXPORTER_OTLP_ENDPOINT": traces.endpoint,
    }
    try:
        with newsflow_up(tmp_path_factory.mktemp("newsflow-data"), env) as running:
            yield Traced(running, traces, metrics_port)
    finally:
        traces.stop()


@pytest.fixture(scope="module")
def newsflow(traced: Traced) -> Newsflow:
    return traced.newsflow


@pytest.fixture(scope="module")
def indexed(newsflow: Newsflow, page_server: PageServer) -> dict[str, dict[str, Any]]:
    """The five sample pages posted through the API and followed to the end, by file name."""
    names = PAGES_2019 + PAGES_2017
    response = httpx.post(
        f"{newsflow.api}/v1/articles",
        json={"urls": [page_server.url(name) for name in names]},
        timeout=10,
    )
    assert response.status_code == 202
    ids = [article["id"] for article in response.json()["articles"]]
    return {name: newsflow.wait_terminal(ident) for name, ident in zip(names, ids, strict=True)}


def test_sample_pages_are_indexed_clean_and_searchable(
    newsflow: Newsflow, indexed: dict[str, dict[str, Any]]
) -> None:
    assert {name: view["status"] for name, view in indexed.items()} == dict.fromkeys(
        indexed, "indexed"
    )
    result = newsflow.get("/v1/search", q="Lavrov", limit=10)
    found = {hit["id"] for hit in result["hits"]}
    assert found == {indexed[name]["id"] for name in PAGES_2019}
    assert result["total"] == 3
    assert all("<mark>" in hit["snippet"] for hit in result["hits"])
    everyone: set[str] = set()
    for view in indexed.values():
        text = view["article"]["content"]["text"]
        assert "Most read" not in text
        assert "{{item.group_date}}" not in text
        assert set(view["stage_ms"]) == {"fetch", "clean", "extract", "index"}
        people = {e["name"] for e in view["article"]["entities"] if e["type"] == "person"}
        # Where the article names them in full, the full name is the canonical one.
        named = {name for name in ("Vladimir Putin", "Donald Trump") if name in text}
        assert named <= people, (view["url"], people)
        everyone |= people
    assert {"Vladimir Putin", "Donald Trump"} <= everyone
    # The three 2019 pages are one story, the two 2017 pages another; none is a copy.
    stories = {name: view["article"]["story_id"] for name, view in indexed.items()}
    assert len({stories[name] for name in PAGES_2019}) == 1
    assert len({stories[name] for name in PAGES_2017}) == 1
    assert len(set(stories.values())) == 2
    assert all(view["article"]["duplicate_of"] is None for view in indexed.values())


def _service_chain(span: ReceivedSpan, spans: dict[str, ReceivedSpan]) -> list[str]:
    """Services from `span` up to the trace root, consecutive repeats collapsed."""
    chain: list[str] = []
    current: ReceivedSpan | None = span
    while current is not None:
        if not chain or chain[-1] != current.service:
            chain.append(current.service)
        current = spans.get(current.parent_id)
    return chain


def _wait_for_trace(traces: OtlpReceiver, trace_id: str, services: set[str]) -> list[ReceivedSpan]:
    """The trace's spans once every service has sent its part and every parent has arrived.

    Each process exports in batches of its own, so a child span can arrive before its
    parent: wait for a connected trace, up to a deadline, then let the test judge it.
    """
    deadline = time.monotonic() + 20
    while True:
        spans = traces.trace(trace_id)
        ids = {span.span_id for span in spans}
        roots = [span for span in spans if span.parent_id not in ids]
        complete = services <= {span.service for span in spans} and len(roots) == 1
        if complete or time.monotonic() > deadline:
            return spans
        time.sleep(0.2)


def test_each_article_is_one_trace_from_api_to_index(
    traced: Traced, indexed: dict[str, dict[str, Any]]
) -> None:
    for view in indexed.values():
        spans = _wait_for_trace(traced.traces, view["trace_id"], set(SERVICES))
        assert {span.service for span in spans} == set(SERVICES)
        by_id = {span.span_id: span for span in spans}
        roots = [span for span in spans if span.parent_id not in by_id]
        assert [root.service for root in roots] == ["newsflow-api"]
        processing = [
            s for s in spans if s.service == "newsflow-index" and s.name.endswith(" process")
        ]
        assert processing, [s.name for s in spans]
        assert _service_chain(processing[0], by_id) == list(reversed(SERVICES))
        assert processing[0].attributes["newsflow.article_id"] == view["id"]


def test_stage_spans_carry_the_article_sizes_and_outcome(
    traced: Traced, indexed: dict[str, dict[str, Any]]
) -> None:
    view = indexed["tass-2019-lavrov-rovaniemi.html"]
    spans = _wait_for_trace(traced.traces, view["trace_id"], set(SERVICES))
    processing = {
        span.service.removeprefix("newsflow-"): span.attributes
        for span in spans
        if span.name.endswith(" process") and span.attributes.get("newsflow.outcome") == "passed"
    }
    assert set(processing) == {"fetch", "clean", "extract", "index"}
    for stage, attributes in processing.items():
        assert attributes["newsflow.stage"] == stage
        assert attributes["newsflow.article_id"] == view["id"]
        assert attributes["url.full"] == view["url"]
    page = (PAGES / "tass-2019-lavrov-rovaniemi.html").stat().st_size
    assert processing["fetch"]["newsflow.size_bytes"] == page
    assert processing["clean"]["newsflow.text_chars"] == len(view["article"]["content"]["text"])
    assert processing["extract"]["newsflow.entity_count"] == len(view["article"]["entities"])


def test_each_worker_serves_its_metrics_on_its_own_port(
    traced: Traced, indexed: dict[str, dict[str, Any]]
) -> None:
    for offset, stage in enumerate(["fetch", "clean", "extract", "index"]):
        base = f"http://127.0.0.1:{traced.metrics_port + offset}"
        assert httpx.get(f"{base}/ready", timeout=5).status_code == 200
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(
                httpx.get(f"{base}/metrics", timeout=5).text
            )
            for sample in family.samples
        }
        passed = samples[("newsflow_articles_total", (("outcome", "passed"), ("stage", stage)))]
        assert passed >= len(indexed), stage
        groups = {labels for name, labels in samples if name == "newsflow_stream_lag"}
        assert any(("group", stage) in labels for labels in groups), stage
        if stage == "fetch":
            assert samples[("newsflow_fetch_responses_total", (("code", "200"),))] >= len(indexed)
            assert samples[("newsflow_fetch_bytes_total", ())] > 0


def test_plain_xadd_ingest_is_fetched_like_a_posted_url(
    traced: Traced, page_server: PageServer
) -> None:
    newsflow = traced.newsflow
    url = page_server.url("usatoday-2017-putin-trump-call.html?via=redis")
    client = redis.Redis(port=newsflow.redis_port)
    try:
        client.xadd(INGEST, {"url": url})
    finally:
        client.close()
    view = newsflow.wait_terminal(article_id(canonical_url(url)))
    assert view["status"] == "indexed"
    assert view["url"] == canonical_url(url)
    spans = _wait_for_trace(traced.traces, view["trace_id"], set(SERVICES[1:]))
    assert {span.service for span in spans} == set(SERVICES[1:])


def test_pages_that_cannot_be_indexed_end_with_a_reason(
    newsflow: Newsflow, page_server: PageServer
) -> None:
    urls = [page_server.url("gone"), page_server.url("tiny.html"), "http://10.1.2.3/internal"]
    response = httpx.post(f"{newsflow.api}/v1/articles", json={"urls": urls}, timeout=10)
    gone, tiny, internal = (newsflow.wait_terminal(a["id"]) for a in response.json()["articles"])
    assert gone["status"] == "failed"
    assert gone["error"] == {"stage": "fetch", "reason": "HTTP 404 Not Found"}
    assert tiny["status"] == "skipped"
    assert "too little text" in tiny["reason"]
    assert internal["status"] == "failed"
    assert internal["error"]["reason"].startswith("address is internal")
    client = redis.Redis(port=newsflow.redis_port, decode_responses=True)
    try:
        dead = cast(list[tuple[str, dict[str, str]]], client.xrange(dead_letter_stream(INGEST)))
    finally:
        client.close()
    reasons = {fields["article_id"]: fields["reason"] for _, fields in dead}
    assert reasons[gone["id"]] == "HTTP 404 Not Found"
    assert reasons[internal["id"]].startswith("address is internal")


def test_cli_submits_waits_and_searches(newsflow: Newsflow, page_server: PageServer) -> None:
    url = page_server.url("tass-2017-peskov-phone-call.html?via=cli")
    api = ["--api", newsflow.api]
    submitted = subprocess.run(
        [sys.executable, "-m", "services.cli", "submit", url, "--wait", *api],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    assert "queued" in submitted.stdout
    assert "indexed" in submitted.stdout
    found = subprocess.run(
        [sys.executable, "-m", "services.cli", "search", "Peskov telephone", *api],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert "Kremlin spokesman says telephone conversation" in found.stdout


def test_cli_shows_streams_and_dead_letters(newsflow: Newsflow, page_server: PageServer) -> None:
    gone = page_server.url("gone?via=dead-letters")
    response = httpx.post(f"{newsflow.api}/v1/articles", json={"urls": [gone]}, timeout=10)
    ident = response.json()["articles"][0]["id"]
    assert newsflow.wait_terminal(ident)["status"] == "failed"
    env = {**os.environ, "NEWSFLOW_REDIS_URL": f"redis://127.0.0.1:{newsflow.redis_port}/0"}
    run = [sys.executable, "-m", "services.cli"]
    streams = subprocess.run(
        [*run, "streams"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert streams.returncode == 0, streams.stderr
    rows = {line.split()[0]: line.split() for line in streams.stdout.splitlines()[1:]}
    assert set(rows) == {"fetch", "clean", "extract", "index"}
    assert rows["fetch"][3] == "0"  # nothing pending
    assert int(rows["fetch"][6]) >= 1  # dead letters
    dead = subprocess.run(
        [*run, "dead", "list", "--stage", "fetch"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert dead.returncode == 0, dead.stderr
    assert any(ident in line and "HTTP 404" in line for line in dead.stdout.splitlines())


def test_a_killed_stage_is_restarted_and_work_goes_on(
    newsflow: Newsflow, page_server: PageServer
) -> None:
    victim = newsflow.stage_pid("clean")
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (replacement := newsflow.stage_pid("clean")) in (None, victim):
        assert time.monotonic() < deadline, "clean stage was not restarted"
        time.sleep(0.2)
    url = page_server.url("eirns-2019-lavrov-pompeo-finland.html?after=restart")
    response = httpx.post(f"{newsflow.api}/v1/articles", json={"urls": [url]}, timeout=10)
    view = newsflow.wait_terminal(response.json()["articles"][0]["id"])
    assert view["status"] == "indexed"
    assert replacement != victim


def test_a_deleted_stream_is_recreated_and_work_goes_on(
    newsflow: Newsflow, page_server: PageServer
) -> None:
    client = redis.Redis(port=newsflow.redis_port)
    try:
        client.delete(INGEST)  # its group goes with it; the fetch subscriber stops
        url = page_server.url("tass-2019-lavrov-rovaniemi.html?after=deleted-stream")
        deadline = time.monotonic() + 60
        # The API's XADD recreates the stream at once; the fetch group comes back when the
        # stage process restarts, created at 0 so the entry added meanwhile is still read.
        response = httpx.post(f"{newsflow.api}/v1/articles", json={"urls": [url]}, timeout=10)
        view = newsflow.wait_terminal(response.json()["articles"][0]["id"])
        assert view["status"] == "indexed", view
        assert time.monotonic() < deadline
        groups = {g["name"].decode() for g in client.xinfo_groups(INGEST)}
        assert groups == {"fetch"}
        restarts = [
            line
            for line in newsflow.log.read_text().splitlines()
            if '"process exited; restarting"' in line and '"process": "fetch"' in line
        ]
        assert restarts, "the fetch stage should have stopped and been restarted"
    finally:
        client.close()


def test_sigterm_stops_every_process(newsflow: Newsflow) -> None:
    """Runs last in this module: it stops the shared `newsflow up`."""
    newsflow.process.send_signal(signal.SIGTERM)
    assert newsflow.process.wait(timeout=60) == 0
    for port in (newsflow.redis_port, newsflow.api_port):
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", port))
    log = newsflow.log.read_text()
    assert "newsflow stopped" in log
