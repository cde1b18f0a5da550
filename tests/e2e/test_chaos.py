"""Nothing lost, nothing doubled: a few hundred pages flow while workers are killed with
SIGKILL and the Redis server is killed and started again on its append-only file.

At the end every submitted article is indexed, skipped or failed with a reason, the index
holds exactly one document per indexed URL, and no consumer group has anything pending.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis

from services.supervisor import start_valkey
from shared.search import open_index
from shared.streams import STAGES, article_key
from tests.conftest import PageServer, free_port
from tests.e2e.harness import TERMINAL, Newsflow, newsflow_up

pytestmark = pytest.mark.e2e

ARTICLES = [
    "tass-2019-lavrov-rovaniemi.html",
    "eirns-2019-lavrov-pompeo-finland.html",
    "7dnews-2019-pompeo-lavrov-sochi.html",
    "usatoday-2017-putin-trump-call.html",
    "tass-2017-peskov-phone-call.html",
]
COPIES = 48  # of each article page
ODD_PAGES = {"gone": "failed", "not-html.pdf": "skipped", "tiny.html": "skipped"}
ODD_COPIES = 20
WORKER_KILLS = 8
KILL_INTERVAL_SECONDS = 2.5


def _urls(page_server: PageServer) -> dict[str, str]:
    """Each URL to submit, with the outcome it must reach."""
    expected = {
        page_server.url(f"{name}?copy={n}"): "indexed" for n in range(COPIES) for name in ARTICLES
    }
    for (name, outcome), n in itertools.product(ODD_PAGES.items(), range(ODD_COPIES)):
        expected[page_server.url(f"{name}?copy={n}")] = outcome
    return expected


def _submit(newsflow: Newsflow, urls: list[str]) -> dict[str, str]:
    """Article id by URL, posted in batches as a client would."""
    ids: dict[str, str] = {}
    for start in range(0, len(urls), 50):
        batch = urls[start : start + 50]
        response = httpx.post(f"{newsflow.api}/v1/articles", json={"urls": batch}, timeout=30)
        assert response.status_code == 202, response.text
        for url, article in zip(batch, response.json()["articles"], strict=True):
            ids[url] = article["id"]
    return ids


def _statuses(client: redis.Redis, ids: list[str]) -> list[dict[bytes, bytes]]:
    pipe = client.pipeline(transaction=False)
    for ident in ids:
        pipe.hgetall(article_key(ident))
    return list(pipe.execute())


def _pending(client: redis.Redis) -> dict[str, int]:
    return {
        name: int(client.xpending(stage.reads, stage.group)["pending"])
        for name, stage in STAGES.items()
    }


class Chaos:
    """Kills a stage worker every few seconds, and the Redis server once, half-way."""

    def __init__(self, newsflow: Newsflow, restart_redis: Callable[[], None]) -> None:
        self.newsflow = newsflow
        self.restart_redis = restart_redis
        self.kills: Counter[str] = Counter()
        self.redis_restarts = 0
        self._victims = itertools.cycle(STAGES)
        self._next = time.monotonic() + KILL_INTERVAL_SECONDS

    @property
    def done(self) -> bool:
        return self.kills.total() >= WORKER_KILLS and self.redis_restarts == 1

    def step(self) -> None:
        if self.done or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + KILL_INTERVAL_SECONDS
        if self.kills.total() == WORKER_KILLS // 2 and not self.redis_restarts:
            self.restart_redis()
            self.redis_restarts += 1
            return
        stage = next(self._victims)
        pid = self.newsflow.stage_pid(stage)
        if pid is not None:  # None while the supervisor is still restarting it
            os.kill(pid, signal.SIGKILL)
            self.kills[stage] += 1


class RedisServer:
    """A Valkey server the test owns, so it can kill it and start it again on its files."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process = start_valkey(data_dir, self.port)

    def kill_and_restart(self) -> None:
        self.process.kill()  # SIGKILL: no shutdown, no final fsync
        self.process.wait()
        time.sleep(1.0)
        self.process = start_valkey(self.data_dir, self.port)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _wait(check: Callable[[], bool], chaos: Chaos | None, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if chaos is not None:
            chaos.step()
        try:
            if check() and (chaos is None or chaos.done):
                return
        except redis.ConnectionError:
            pass  # the server is being restarted
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_nothing_is_lost_or_doubled_while_workers_and_redis_are_killed(
    page_server: PageServer, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis")
    env = {
        "NEWSFLOW_FETCH_ALLOW": page_server.host_port,
        # Every page is on one host: no politeness interval, or 300 pages take 300 s.
        "NEWSFLOW_FETCH_HOST_INTERVAL": "0",
        "NEWSFLOW_CLAIM_IDLE_MS": "3000",
        "NEWSFLOW_TRIM_INTERVAL_SECONDS": "2",
    }
    started = time.monotonic()
    try:
        with newsflow_up(tmp_path / "data", env, redis_port=server.port) as newsflow:
            expected = _urls(page_server)
            ids = _submit(newsflow, list(expected))
            client = redis.Redis(port=server.port)

            def unfinished() -> int:
                states = _statuses(client, list(ids.values()))
                return sum(s.get(b"status", b"").decode() not in TERMINAL for s in states)

            unfinished_at_restart: list[int] = []

            def restart_redis() -> None:
                unfinished_at_restart.append(unfinished())
                server.kill_and_restart()

            chaos = Chaos(newsflow, restart_redis)

            def finished() -> bool:
                return unfinished() == 0

            _wait(finished, chaos, 420, "every article to finish")
            # Entries a killed worker had passed on but not acknowledged are reclaimed and
            # re-run (idempotently) after the claim idle time.
            _wait(lambda: not any(_pending(client).values()), None, 60, "empty pending lists")

            states = dict(zip(ids, _statuses(client, list(ids.values())), strict=True))
            outcomes = {url: s[b"status"].decode() for url, s in states.items()}
            wrong = {
                url: (outcomes[url], states[url]) for url in ids if outcomes[url] != expected[url]
            }
            for url, fields in states.items():
                if outcomes[url] == "failed":
                    assert fields.get(b"error_reason"), url
                if outcomes[url] == "skipped":
                    assert fields.get(b"reason"), url
            indexed = {ids[url] for url, outcome in outcomes.items() if outcome == "indexed"}
            index = open_index(f"sqlite:///{(tmp_path / 'data' / 'index.db').resolve()}")
            try:
                documents = index.count()
                stored = {ident: index.get(ident) for ident in indexed}
                missing = [ident for ident, document in stored.items() if document is None]
                rewritten = sum(1 for d in stored.values() if d and d["revision"] > 1)
            finally:
                index.close()
            pending = _pending(client)
            client.close()
    finally:
        server.stop()
    counts = Counter(outcomes.values())
    print(
        f"\nchaos: {len(ids)} submitted in {time.monotonic() - started:.0f} s;"
        f" {counts['indexed']} indexed, {counts['skipped']} skipped, {counts['failed']} failed;"
        f" {chaos.kills.total()} workers killed ({dict(chaos.kills)}),"
        f" Redis killed and restarted {chaos.redis_restarts}x"
        f" with {unfinished_at_restart} articles unfinished;"
        f" index documents {documents} ({rewritten} written more than once); pending {pending}"
    )
    assert not wrong, (
        f"{len(wrong)} articles ended otherwise than expected: {list(wrong.items())[:5]}"
    )
    assert chaos.kills.total() >= WORKER_KILLS
    assert unfinished_at_restart[0] > 0, "Redis was restarted after the work was done"
    assert documents == len(indexed) == counts["indexed"]
    assert not missing
    assert not any(pending.values())
