"""A stage as its own process: how it stops, and what it survives.

Each test runs `newsflow worker fetch` as a child process against a real server, the way
`newsflow up`, Docker or Kubernetes run it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from services.supervisor import start_valkey
from shared.streams import FETCH, FETCHED, INGEST
from shared.worker import EXIT_SUBSCRIBER_STOPPED
from tests.conftest import PageServer, free_port

pytestmark = pytest.mark.component

REPO = Path(__file__).resolve().parents[2]


class Worker:
    def __init__(self, redis_url: str, page_server: PageServer, data_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "OTEL_"))}
        env |= {
            "NEWSFLOW_REDIS_URL": redis_url,
            "NEWSFLOW_DATA_DIR": str(data_dir),
            "NEWSFLOW_FETCH_ALLOW": page_server.host_port,
            "NEWSFLOW_CLAIM_IDLE_MS": "1000",
            "NEWSFLOW_LOG_FORMAT": "json",
        }
        self.log = data_dir / "worker.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", "fetch"],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=out,
            )

    def output(self) -> str:
        return self.log.read_text()

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"worker did not exit:\n{self.output()[-3000:]}") from None


def _until(check: Callable[[], object], what: str, worker: Worker, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if worker.process.poll() is not None:
            raise AssertionError(f"worker exited while waiting for {what}:\n{worker.output()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{worker.output()[-3000:]}")
        time.sleep(0.1)


def _reading(client: redis.Redis) -> Callable[[], bool]:
    """True once the fetch group exists and the worker's consumer has read from it."""

    def check() -> bool:
        try:
            return bool(client.xinfo_consumers(INGEST, FETCH.group))
        except redis.ResponseError:
            return False

    return check


@pytest.fixture
def db_url(redis_server: str) -> Iterator[str]:
    """The session server's database 1, emptied: the test's worker has it to itself."""
    url = redis_server.rsplit("/", 1)[0] + "/1"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def worker(db_url: str, page_server: PageServer, tmp_path: Path) -> Iterator[Worker]:
    running = Worker(db_url, page_server, tmp_path)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def test_sigterm_finishes_the_page_in_hand_then_exits_zero(
    worker: Worker, db_url: str, page_server: PageServer
) -> None:
    client = redis.Redis.from_url(db_url)
    _until(_reading(client), "the worker to read", worker)
    client.xadd(INGEST, {"url": page_server.url("slow?seconds=1.5")})
    _until(lambda: client.xpending(INGEST, FETCH.group)["pending"] == 1, "delivery", worker)
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    # The page being downloaded when the signal came was finished and passed on, not dropped.
    assert client.xlen(FETCHED) == 1
    assert client.xpending(INGEST, FETCH.group)["pending"] == 0
    client.close()


def test_a_deleted_stream_makes_the_worker_exit_non_zero(worker: Worker, db_url: str) -> None:
    client = redis.Redis.from_url(db_url)
    _until(_reading(client), "the worker to read", worker)
    client.delete(INGEST)  # the group goes with it: nothing more can be read
    assert worker.wait() == EXIT_SUBSCRIBER_STOPPED
    assert "stage stopped without being asked to" in worker.output()
    client.close()


def test_the_worker_survives_a_broker_restart(page_server: PageServer, tmp_path: Path) -> None:
    """Valkey is killed and started again on its append-only file; the same worker process
    reconnects and fetches what is queued after the restart."""
    port = free_port()
    server = start_valkey(tmp_path / "server", port)
    url = f"redis://127.0.0.1:{port}/0"
    worker = Worker(url, page_server, tmp_path)
    try:
        client = redis.Redis.from_url(url)
        _until(_reading(client), "the worker to read", worker)
        client.xadd(INGEST, {"url": page_server.url("tiny.html?before=restart")})
        _until(lambda: client.xlen(FETCHED) == 1, "the first page", worker)
        server.kill()
        server.wait()
        time.sleep(1.0)  # the worker meets a closed connection for a while
        server = start_valkey(tmp_path / "server", port)
        client.xadd(INGEST, {"url": page_server.url("tiny.html?after=restart")})
        # Generous: a host slot whose release the restart lost holds the host until its
        # hold lapses (the whole-response deadline), and the URL waits parked until then.
        _until(lambda: client.xlen(FETCHED) == 2, "a page after the restart", worker, 150)
        assert worker.process.poll() is None
        # The first entry's ack may have been lost with the server; the reclaimer settles it.
        _until(
            lambda: client.xpending(INGEST, FETCH.group)["pending"] == 0,
            "nothing pending",
            worker,
        )
        client.close()
    finally:
        worker.process.kill()
        worker.process.wait()
        server.kill()
        server.wait()
