"""Overload: with the extract stage stopped, 20,000 URLs are offered to the API.

The API accepts work until the pipeline's backlog reaches its limit, then answers 429 with
Retry-After and queues nothing more, so Redis memory stays bounded by the limit rather
than by what clients send. Once extract starts, the backlog drains with nothing lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from services.supervisor import start_valkey
from shared.streams import INGEST, STAGES, article_key
from tests.conftest import PageServer, free_port
from tests.e2e.harness import REPO

pytestmark = pytest.mark.e2e

OFFERED = 20_000
BATCH = 100
LIMIT = 500


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *args], cwd=REPO, env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until `check` holds."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.2)
    return time.monotonic() - started


def _used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def test_the_api_refuses_work_over_the_limit_and_the_backlog_drains(
    page_server: PageServer, tmp_path: Path
) -> None:
    port, api_port = free_port(), free_port()
    server = start_valkey(tmp_path / "redis", port)
    client = redis.Redis(port=port)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "OTEL_"))}
    env |= {
        "NEWSFLOW_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "NEWSFLOW_DATA_DIR": str(tmp_path),
        "NEWSFLOW_API_PORT": str(api_port),
        "NEWSFLOW_FETCH_ALLOW": page_server.host_port,
        "NEWSFLOW_FETCH_HOST_INTERVAL": "0",  # every page is on one host
        # ... so its URLs wait for it rather than being parked and queued again, which would
        # add entries to the ingest stream this test counts.
        "NEWSFLOW_FETCH_HOST_WAIT": "60",
        "NEWSFLOW_INGEST_BACKLOG_LIMIT": str(LIMIT),
        "NEWSFLOW_LOG_FORMAT": "json",
    }
    api = f"http://127.0.0.1:{api_port}"
    try:
        with (
            _process(["api"], env, tmp_path / "api.log"),
            _process(["worker", "fetch"], env, tmp_path / "fetch.log"),
            _process(["worker", "clean"], env, tmp_path / "clean.log"),
            _process(["worker", "index"], env, tmp_path / "index.log"),
        ):
            _wait(lambda: _healthy(api), 60, "the API")
            baseline = _used_memory(client)
            accepted: list[str] = []
            refused = 0
            first_refusal_at: int | None = None
            for start in range(0, OFFERED, BATCH):
                urls = [page_server.url(f"generated/{n}.html") for n in range(start, start + BATCH)]
                response = httpx.post(f"{api}/v1/articles", json={"urls": urls}, timeout=30)
                if response.status_code == 429:
                    assert int(response.headers["Retry-After"]) > 0
                    assert "backlog is full" in response.json()["detail"]
                    refused += len(urls)
                    if first_refusal_at is None:
                        first_refusal_at = len(accepted)
                    continue
                assert response.status_code == 202, response.text
                accepted += [article["id"] for article in response.json()["articles"]]

            # Refusals start once the limit is reached, never before and never much after.
            assert first_refusal_at is not None
            assert LIMIT <= first_refusal_at < LIMIT + BATCH
            assert len(accepted) + refused == OFFERED
            # Nothing refused was queued or recorded.
            assert client.xlen(INGEST) == len(accepted)
            assert sum(1 for _ in client.scan_iter(article_key("*"), count=1000)) == len(accepted)

            # Everything accepted waits at the stopped extract stage's door.
            extract = STAGES["extract"]
            _wait(lambda: client.xlen(extract.reads) == len(accepted), 240, "fetch and clean")
            held = _used_memory(client) - baseline
            started = time.monotonic()
            with _process(["worker", "extract"], env, tmp_path / "extract.log"):
                drain = _wait(lambda: _indexed(client, accepted) == len(accepted), 300, "drain")
            elapsed = time.monotonic() - started
            pending = {
                name: int(client.xpending(stage.reads, stage.group)["pending"])
                for name, stage in STAGES.items()
            }
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=10)
    print(
        f"\noverload: {OFFERED} offered, {len(accepted)} accepted (limit {LIMIT}),"
        f" {refused} refused with 429; Redis held {held / 1e6:.1f} MB for the backlog"
        f" ({held / len(accepted) / 1024:.1f} KiB per queued article, HTML and text included);"
        f" drained {len(accepted)} in {drain:.1f} s ({len(accepted) / drain:.0f} articles/s,"
        f" {elapsed:.1f} s with extract start-up); pending {pending}"
    )
    assert not any(pending.values())


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _indexed(client: redis.Redis, ids: list[str]) -> int:
    pipe = client.pipeline(transaction=False)
    for ident in ids:
        pipe.hget(article_key(ident), "status")
    return sum(1 for status in pipe.execute() if status == b"indexed")
