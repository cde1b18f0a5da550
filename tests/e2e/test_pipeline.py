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
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis

from shared.streams import INGEST, dead_letter_stream
from shared.urls import article_id, canonical_url
from tests.conftest import PageServer, free_port
from tests.e2e.otlp import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PAGES_2019 = [
    "tass-2019-lavrov-rovaniemi.html",
    "eirns-2019-lavrov-pompeo-finland.html",
    "7dnews-2019-pompeo-lavrov-sochi.html",
]
PAGES_2017 = ["usatoday-2017-putin-trump-call.html", "tass-2017-peskov-phone-call.html"]
TERMINAL = {"indexed", "failed", "skipped"}
SERVICES = [
    "newsflow-api",
    "newsflow-fetch",
    "newsflow-clean",
    "newsflow-extract",
    "newsflow-index",
]


@dataclass
class Newsflow:
    process: subprocess.Popen[bytes]
    api: str
    redis_port: int
    api_port: int
    traces: OtlpReceiver
    log: Path

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.api}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def wait_terminal(self, ident: str, timeout: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            view: dict[str, Any] = self.get(f"/v1/articles/{ident}")
            if view["status"] in TERMINAL:
                return view
            time.sleep(0.2)
        raise AssertionError(
            f"article {ident} did not finish: {view}\n{self.log.read_text()[-4000:]}"
        )


def _wait_healthy(api: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"newsflow up exited early:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{api}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"API did not become healthy:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def newsflow(
    page_server: PageServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Newsflow]:
    data_dir = tmp_path_factory.mktemp("newsflow-data")
    traces = OtlpReceiver()
    traces.start()
    redis_port, api_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "OTEL_"))}
    env |= {
        "NEWSFLOW_DATA_DIR": str(data_dir),
        "NEWSFLOW_EMBEDDED_REDIS_PORT": str(redis_port),
        "NEWSFLOW_API_PORT": str(api_port),
        "NEWSFLOW_FETCH_ALLOW": page_server.host_port,
        "NEWSFLOW_LOG_FORMAT": "json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": traces.endpoint,
    }
    log = data_dir / "newsflow.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up"], cwd=REPO, env=env, stdout=out, stderr=out
        )
    api = f"http://127.0.0.1:{api_port}"
    try:
        _wait_healthy(api, process, log)
        yield Newsflow(process, api, redis_port, api_port, traces, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        traces.stop()


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


def _wait_for_trace(newsflow: Newsflow, trace_id: str, services: set[str]) -> list[ReceivedSpan]:
    deadline = time.monotonic() + 20
    while True:
        spans = newsflow.traces.trace(trace_id)
        if services <= {span.service for span in spans} or time.monotonic() > deadline:
            return spans
        time.sleep(0.2)


def test_each_article_is_one_trace_from_api_to_index(
    newsflow: Newsflow, indexed: dict[str, dict[str, Any]]
) -> None:
    for view in indexed.values():
        spans = _wait_for_trace(newsflow, view["trace_id"], set(SERVICES))
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


def test_plain_xadd_ingest_is_fetched_like_a_posted_url(
    newsflow: Newsflow, page_server: PageServer
) -> None:
    url = page_server.url("usatoday-2017-putin-trump-call.html?via=redis")
    client = redis.Redis(port=newsflow.redis_port)
    try:
        client.xadd(INGEST, {"url": url})
    finally:
        client.close()
    view = newsflow.wait_terminal(article_id(canonical_url(url)))
    assert view["status"] == "indexed"
    assert view["url"] == canonical_url(url)
    spans = _wait_for_trace(newsflow, view["trace_id"], set(SERVICES[1:]))
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


def _children(pid: int) -> dict[int, str]:
    """Child processes of `pid` by pid, with their command lines."""
    found: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            found[int(child)] = cmdline.decode()
    return found


def _stage_pid(newsflow: Newsflow, stage: str) -> int | None:
    for pid, cmdline in _children(newsflow.process.pid).items():
        if cmdline.rstrip().endswith(f"worker {stage}"):
            return pid
    return None


def test_a_killed_stage_is_restarted_and_work_goes_on(
    newsflow: Newsflow, page_server: PageServer
) -> None:
    victim = _stage_pid(newsflow, "clean")
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (replacement := _stage_pid(newsflow, "clean")) in (None, victim):
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
