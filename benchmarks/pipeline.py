"""The whole pipeline against its limit on this machine.

    .venv/bin/python benchmarks/pipeline.py   # full run: 3 rounds of 1,000 articles
    .venv/bin/python benchmarks/pipeline.py --articles 200 --rounds 3 --backlog 25000 --quick
                                              # `make bench`, a few minutes

A corpus server on 127.0.0.1 serves generated article pages (and the fixture pages) under
many host addresses (127.0.0.2, 127.0.0.3, ...), so per-host politeness does not serialise
the run. Then, in one run:

1. The limit: every stage's real work for each article, without broker, streams or
   telemetry, one process per core, with the settings the pipeline runs with. In each
   process the fetch stage's handler runs on a thread of its own, `fetch_concurrency` URLs
   at once over many hosts as the fetch worker does, so politeness intervals and robots.txt
   overlap the CPU work; the main thread takes each fetched page through the clean stage's
   handler (its extraction child process included), the extract stage's handler, and hands
   the index stage's handler what is done together as one batch. Its articles per second
   are the ceiling here; the time a process waited for a fetched page is printed, and how
   busy the processes were (CPU over wall time).
2. The pipeline: --articles URLs posted to a running `newsflow up`, with one and with two extract
   processes: articles per second end to end, CPU milliseconds per article for each stage
   (process trees, since the clean stage extracts in a child) and for Redis, peak memory per
   process, Redis memory. Before the URLs are posted, the CPU each process spends per
   second with every stream empty (idle polling).
3. The overhead per message and stage: pipeline CPU less the limit's (broker hops,
   serialisation, telemetry, status updates), and how much of it idle polling over the
   run's length can explain.
4. Latency from submission to `indexed` (p50, p95, p99) with URLs posted one by one at half
   the measured throughput.
5. Side by side: one limit process (half the articles) and the pipeline with the most
   extract processes at the same time, so both see the machine in the same state: CPU per
   article and stage for each, the difference, and the ratio.
6. The backlog: --backlog URLs posted to the API with no stage running; Redis memory.

The limit and each pipeline run once per round (--rounds), in reverse order every other
round: the speed of a shared machine drifts by a tenth or more over minutes, and a limit
measured only before the pipeline would carry that drift into the ratio. Each round gives a
ratio pipeline / limit; the report gives every round's and the medians. Each pipeline is
started once, its idle CPU measured, and left running between its runs: idle, it takes
about 1.5% of two cores from whatever is measured meanwhile (stopping it instead makes its
Redis clients time out when it resumes). A run ends when its last article's status was
written. The latency runs and peak memory come after the rounds.

Results go to a JSON file and a PNG plot (throughput over time, latency distribution) in
--out; the ratios are printed last: CPU per article limit / pipeline, and articles per
second pipeline / limit. On a machine shared with other work the throughput ratio favours
the pipeline (its seven processes get a larger share of the cores than the limit's two),
so read the CPU figures there; on a quiet machine the two ratios agree.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import multiprocessing
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import redis  # noqa: E402

from services.supervisor import start_valkey  # noqa: E402
from shared.errors import NewsflowError  # noqa: E402
from shared.streams import INDEXED, STAGES, article_key  # noqa: E402
from shared.urls import article_id, canonical_url  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.corpus import article_html  # noqa: E402
from tests.e2e.harness import children, own_cpu_seconds  # noqa: E402

FIXTURES = sorted((REPO / "tests" / "fixtures" / "pages").glob("*.html"))
TERMINAL = {b"indexed", b"failed", b"skipped"}


# --- the corpus -------------------------------------------------------------------------


@cache
def _page(kind: str, number: int) -> bytes:
    if kind == "f":
        return FIXTURES[number % len(FIXTURES)].read_bytes()
    return article_html(number)


class _CorpusHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        kind, _, name = path.strip("/").partition("/")
        if kind in ("a", "f") and name.endswith(".html") and name[:-5].isdigit():
            body, code = _page(kind, int(name[:-5])), 200
        else:
            body, code = b"not found", 404  # robots.txt included: everything allowed
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client closing a kept-alive connection is not news


class Corpus:
    """One HTTP server per host address, all in this process."""

    def __init__(self, hosts: int) -> None:
        self.servers = [_QuietServer((f"127.0.0.{2 + n}", 0), _CorpusHandler) for n in range(hosts)]
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.origins = [f"{s.server_address[0]}:{s.server_address[1]}" for s in self.servers]

    def urls(self, count: int, tag: str) -> list[str]:
        """`count` distinct article URLs spread over the hosts; one in ten a fixture page."""
        return [
            f"http://{self.origins[n % len(self.origins)]}/{'f' if n % 10 == 9 else 'a'}"
            f"/{n}.html?run={tag}"
            for n in range(count)
        ]

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


# --- the limit: stage handlers in plain loops ---------------------------------------------
#
# Each limit process does every stage's work for its share of the URLs, with no broker, no
# streams and no telemetry. Its fetches run ahead on a thread of their own, many hosts at
# once (`fetch_concurrency`), as the fetch worker does, so the politeness interval and the
# robots.txt fetch overlap the CPU work instead of stalling it; clean, extract and index run
# in turn on the main thread as pages arrive, index taking what is done together as one
# batch. Per-stage CPU is the process tree's CPU (the clean stage extracts in a child)
# during each call, less the fetch thread's CPU in the same interval.


def _limit_process(job: tuple[dict[str, str], list[str]], answers: Any, started: Any) -> None:
    env, urls = job
    os.environ.update(env)
    answers.put(asyncio.run(_limit_loop(urls, started)))


def _limit_context(settings: Any) -> Any:
    from faststream.redis import RedisBroker
    from redis.asyncio import Redis

    from shared.status import StatusStore
    from shared.worker import StageContext

    client: Redis = Redis.from_url(settings.redis_url)
    # The broker is never connected: handlers publish nothing, the loop passes events on.
    return StageContext(settings, client, StatusStore(client), RedisBroker(settings.redis_url))


class _FetchAhead(threading.Thread):
    """The fetch stage's handler on its own event loop, `fetch_concurrency` URLs at once."""

    def __init__(self, settings: Any, events: list[Any]) -> None:
        super().__init__(name="limit-fetch", daemon=True)
        self.settings = settings
        self.events = events
        self.pages: queue.Queue[Any] = queue.Queue()
        self.cpu_s: float | None = None
        """The thread's CPU seconds, once it has finished."""

    def cpu_now(self) -> float:
        """The thread's CPU seconds so far (read from another thread)."""
        if self.cpu_s is not None or self.ident is None:
            return self.cpu_s or 0.0
        try:
            return time.clock_gettime(time.pthread_getcpuclockid(self.ident))
        except OSError:  # finished between the two looks
            return self.cpu_s or 0.0

    def run(self) -> None:
        try:
            asyncio.run(self._fetch_all())
        finally:
            self.cpu_s = time.thread_time()
            self.pages.put(None)

    async def _fetch_all(self) -> None:
        ctx = _limit_context(self.settings)
        handler = importlib.import_module("services.fetch.worker").create_handler(self.settings)
        await handler.start(ctx)
        room = asyncio.Semaphore(max(1, handler.concurrency))

        async def fetch(event: Any) -> None:
            async with room:
                try:
                    outcome = await handler.handle(event, ctx)
                except NewsflowError:
                    return
                if outcome is not None:
                    self.pages.put(outcome.event)

        await asyncio.gather(*(fetch(event) for event in self.events))
        await handler.stop()
        await ctx.redis.aclose()


class _Stages:
    """Clean, extract and index handlers called in turn, timed per call."""

    def __init__(self, settings: Any, ctx: Any, fetcher: _FetchAhead) -> None:
        self.ctx = ctx
        self.fetcher = fetcher
        self.handlers = {
            name: importlib.import_module(f"services.{name}.worker").create_handler(settings)
            for name in ("clean", "extract", "index")
        }
        self.cpu = dict.fromkeys(STAGES, 0.0)
        self.wall = dict.fromkeys(STAGES, 0.0)
        self.passed = dict.fromkeys(STAGES, 0)

    def _cpu_now(self) -> float:
        """This process tree's CPU seconds, less the fetch thread's."""
        return _tree_cpu_seconds() - self.fetcher.cpu_now()

    async def _timed(self, name: str, work: Any) -> Any:
        tick, started = self._cpu_now(), time.perf_counter()
        try:
            return await work
        except NewsflowError:
            return None
        finally:
            self.cpu[name] += self._cpu_now() - tick
            self.wall[name] += time.perf_counter() - started

    async def article(self, page: Any) -> Any:
        """Clean and extract one fetched page; the extracted event, or None."""
        self.passed["fetch"] += 1
        cleaned = await self._timed("clean", self.handlers["clean"].handle(page, self.ctx))
        if cleaned is None:
            return None
        self.passed["clean"] += 1
        extracted = await self._timed(
            "extract", self.handlers["extract"].handle(cleaned.event, self.ctx)
        )
        if extracted is None:
            return None
        self.passed["extract"] += 1
        return extracted.event

    async def write(self, batch: list[Any]) -> None:
        """The index stage writes what arrives together in one transaction, as it does when
        running: hand it the whole batch at once."""
        handler = self.handlers["index"]
        written = await self._timed(
            "index", asyncio.gather(*(handler.handle(event, self.ctx) for event in batch))
        )
        self.passed["index"] += len(written or [])


async def _limit_loop(urls: list[str], started_event: Any = None) -> dict[str, Any]:
    from shared.logs import configure_logging
    from shared.schemas import UrlSubmitted
    from shared.settings import Settings

    settings = Settings()
    configure_logging(settings, process="limit")
    ctx = _limit_context(settings)
    # Submitting is the API's work: done before the clock starts.
    events = []
    for url in urls:
        canonical = canonical_url(url)
        ident = article_id(canonical)
        await ctx.status.submit(ident, canonical)
        events.append(UrlSubmitted(article_id=ident, url=canonical, submitted_at=datetime.now(UTC)))
    fetcher = _FetchAhead(settings, events)
    stages = _Stages(settings, ctx, fetcher)
    for handler in stages.handlers.values():
        await handler.start(ctx)
    waited = 0.0
    if started_event is not None:  # the clock starts: tell whoever waits for it
        started_event.set()
    started, tree_started = time.perf_counter(), _tree_cpu_seconds()
    fetcher.start()
    batch: list[Any] = []
    while True:
        try:
            page = fetcher.pages.get_nowait()
        except queue.Empty:
            if batch:  # nothing to clean yet: write what is done rather than wait
                await stages.write(batch)
                batch = []
                continue
            waiting = time.perf_counter()
            page = await asyncio.to_thread(fetcher.pages.get)
            waited += time.perf_counter() - waiting
        if page is None:
            break
        extracted = await stages.article(page)
        if extracted is not None:
            batch.append(extracted)
        if len(batch) >= settings.index_batch_size:
            await stages.write(batch)
            batch = []
    if batch:
        await stages.write(batch)
    elapsed = time.perf_counter() - started
    tree_cpu = _tree_cpu_seconds() - tree_started
    fetcher.join()
    stages.cpu["fetch"] = fetcher.cpu_now()
    for handler in stages.handlers.values():
        await handler.stop()
    await ctx.redis.aclose()
    return {
        "articles": len(urls),
        "wall_s": elapsed,
        "cpu_s": stages.cpu,
        "tree_cpu_s": tree_cpu,
        "stage_wall_s": stages.wall,
        "waited_for_pages_s": waited,
        "passed": stages.passed,
    }


def _answer(answers: Any, workers: list[Any]) -> dict[str, Any]:
    """The next limit process's results; stops the run if one died without answering."""
    while True:
        try:
            answer: dict[str, Any] = answers.get(timeout=5)
            return answer
        except queue.Empty:
            dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise SystemExit(f"a limit process failed (exit code {dead[0]})") from None


def _tree_cpu_seconds() -> float:
    return time.process_time() + sum(_cpu_seconds(pid) for pid in children(os.getpid()))


def run_limit(
    corpus: Corpus,
    articles: int,
    processes: int,
    work: Path,
    allow: str,
    *,
    tag: str,
    loop_started: Any = None,
) -> dict[str, Any]:
    """The limit's processes over `articles` URLs; `loop_started`, a multiprocessing event of
    the spawn context, is set when the first process's timed loop begins."""
    port = free_port()
    server = start_valkey(work / "limit-redis", port)
    try:
        urls = corpus.urls(articles, tag)
        jobs = []
        for n in range(processes):
            env = {
                "NEWSFLOW_REDIS_URL": f"redis://127.0.0.1:{port}/0",
                "NEWSFLOW_DATA_DIR": str(work / f"limit-data-{n}"),
                "NEWSFLOW_FETCH_ALLOW": allow,
                "NEWSFLOW_LOG_LEVEL": "warning",
            }
            jobs.append((env, urls[n::processes]))
        started, redis_started = time.perf_counter(), _cpu_seconds(server.pid)
        # Plain processes, not a Pool: the clean stage starts a child of its own, which a
        # Pool's daemonic workers may not.
        context = multiprocessing.get_context("spawn")
        answers = context.Queue()
        workers = [
            context.Process(target=_limit_process, args=(job, answers, loop_started))
            for job in jobs
        ]
        for worker in workers:
            worker.start()
        results = [_answer(answers, workers) for _ in workers]
        redis_cpu = _cpu_seconds(server.pid) - redis_started
        for worker in workers:
            worker.join()
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    cpu = {name: sum(r["cpu_s"][name] for r in results) for name in STAGES}
    # The stages' own use of Redis (stored pages, politeness, status, story linking).
    cpu["redis"] = redis_cpu
    indexed = sum(r["passed"]["index"] for r in results)
    # Per-process start-up (spaCy, trafilatura) is left out: only the loops are timed.
    loop_wall = max(r["wall_s"] for r in results)
    loop_wall_sum = sum(r["wall_s"] for r in results)
    return {
        "processes": processes,
        "articles": articles,
        "indexed": indexed,
        "articles_per_s": articles / loop_wall,
        "wall_s": wall,
        "loop_wall_s": loop_wall,
        "cpu_ms_per_article": {name: 1000 * value / articles for name, value in cpu.items()},
        "wall_ms_per_article": {
            name: 1000 * sum(r["stage_wall_s"][name] for r in results) / articles
            for name in ("clean", "extract", "index")
        },
        # Busy: the loops' CPU over their wall time (1.0 = each process kept one core busy).
        "busy": sum(r["tree_cpu_s"] for r in results) / loop_wall_sum,
        "waited_for_pages_ms_per_article": 1000
        * sum(r["waited_for_pages_s"] for r in results)
        / articles,
    }


# --- the pipeline: `newsflow up` ---------------------------------------------------------


def _role(cmdline: str) -> str:
    parts = cmdline.split()
    if "worker" in parts:
        return parts[parts.index("worker") + 1]
    if parts[-1] == "api":
        return "api"
    return "redis" if "valkey" in parts[0] else parts[0]


def _cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its running descendants (the clean stage extracts in a child)."""
    total = own_cpu_seconds(pid)
    for child in children(pid):
        try:
            total += _cpu_seconds(child)
        except FileNotFoundError:
            continue
    return total


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Pipeline:
    """A running `newsflow up` with its own embedded Valkey and data directory."""

    def __init__(self, work: Path, allow: str, extract: int) -> None:
        self.redis_port, api_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{api_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "OTEL_"))}
        env |= {
            "NEWSFLOW_DATA_DIR": str(work),
            "NEWSFLOW_EMBEDDED_REDIS_PORT": str(self.redis_port),
            "NEWSFLOW_API_PORT": str(api_port),
            "NEWSFLOW_FETCH_ALLOW": allow,
            "NEWSFLOW_LOG_FORMAT": "json",
            "NEWSFLOW_LOG_LEVEL": "warning",
            "NEWSFLOW_INGEST_BACKLOG_LIMIT": "1000000",
        }
        work.mkdir(parents=True, exist_ok=True)
        self.log = work / "newsflow.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "up", "--scale", f"extract={extract}"],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + 120
        while not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"newsflow up did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.3)
        # Stages are ready once each has joined its group.
        self.redis = redis.Redis(port=self.redis_port)
        while not all(self._joined(stage.reads, stage.group) for stage in STAGES.values()):
            time.sleep(0.3)

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.api}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _joined(self, stream: str, group: str) -> bool:
        try:
            return bool(self.redis.xinfo_consumers(stream, group))
        except redis.ResponseError:
            return False

    def processes(self) -> dict[int, str]:
        return {pid: _role(cmdline) for pid, cmdline in children(self.process.pid).items()}

    def submit(self, urls: list[str]) -> list[str]:
        response = httpx.post(f"{self.api}/v1/articles", json={"urls": urls}, timeout=60)
        response.raise_for_status()
        return [article["id"] for article in response.json()["articles"]]

    def statuses(self, ids: list[str]) -> list[dict[bytes, bytes]]:
        pipe = self.redis.pipeline(transaction=False)
        for ident in ids:
            pipe.hgetall(article_key(ident))
        return list(pipe.execute())

    def close(self) -> None:
        self.redis.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _wait_done(
    pipeline: Pipeline, ids: list[str], timeout: float
) -> tuple[list[tuple[float, int]], list[dict[bytes, bytes]]]:
    """Poll until every article is terminal; returns (seconds, indexed so far) samples and
    the articles' final statuses."""
    started = time.monotonic()
    indexed_before = int(pipeline.redis.xlen(INDEXED))
    samples = []
    while True:
        indexed = int(pipeline.redis.xlen(INDEXED)) - indexed_before
        samples.append((time.monotonic() - started, indexed))
        states = pipeline.statuses(ids)
        if all(s.get(b"status") in TERMINAL for s in states):
            return samples, states
        if time.monotonic() - started > timeout:
            raise SystemExit(f"pipeline did not finish in {timeout:.0f} s")
        time.sleep(0.5)


def _finished_at(states: list[dict[bytes, bytes]]) -> float:
    """When the last article reached its end, by the time its last stage recorded: exact,
    where the polling that noticed it is up to half a second late."""
    return max(float(s.get(b"updated_at", 0)) for s in states)


def start_pipeline(work: Path, allow: str, extract: int) -> tuple[Pipeline, dict[str, float]]:
    """`newsflow up` with `extract` extract processes, and its idle CPU per role."""
    pipeline = Pipeline(work, allow, extract)
    return pipeline, _idle_cpu(pipeline.processes())


def run_pipeline(
    pipeline: Pipeline, corpus: Corpus, articles: int, extract: int, *, tag: str
) -> dict[str, Any]:
    """One throughput run: `articles` URLs posted at once to a running pipeline."""
    processes = pipeline.processes()
    cpu_before = {pid: _cpu_seconds(pid) for pid in processes}
    memory_before = int(pipeline.redis.info("memory")["used_memory"])
    urls = corpus.urls(articles, tag)
    started = time.time()
    ids: list[str] = []
    for first in range(0, len(urls), 200):
        ids += pipeline.submit(urls[first : first + 200])
    samples, states = _wait_done(pipeline, ids, timeout=max(600.0, articles))
    elapsed = _finished_at(states) - started
    cpu: dict[str, float] = {}
    for pid, role in processes.items():
        # A process restarted during the run loses its figures; the run is not lost.
        with suppress(FileNotFoundError):
            cpu[role] = cpu.get(role, 0.0) + _cpu_seconds(pid) - cpu_before[pid]
    outcomes: dict[str, int] = {}
    for state in states:
        outcome = state.get(b"status", b"?").decode()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {
        "extract_processes": extract,
        "articles": articles,
        "outcomes": outcomes,
        "elapsed_s": elapsed,
        "articles_per_s": articles / elapsed,
        "cpu_ms_per_article": {role: 1000 * s / articles for role, s in sorted(cpu.items())},
        "redis_used_memory_mb": (int(pipeline.redis.info("memory")["used_memory"]) - memory_before)
        / 1e6,
        "indexed_over_time": samples,
    }


def finish_pipeline(
    pipeline: Pipeline, corpus: Corpus, throughput: float, tag: str
) -> dict[str, Any]:
    """The latency run at half `throughput`, then peak memory per role; stops the pipeline."""
    try:
        latency = run_paced(pipeline, corpus, throughput / 2, tag)
        peak: dict[str, float] = {}
        for pid, role in pipeline.processes().items():
            peak[role] = max(peak.get(role, 0.0), _peak_rss_mb(pid))
        redis_peak = int(pipeline.redis.info("memory")["used_memory_peak"]) / 1e6
    finally:
        pipeline.close()
    return {
        "paced": latency,
        "peak_rss_mb": dict(sorted(peak.items())),
        "redis_peak_memory_mb": redis_peak,
    }


def _idle_cpu(processes: dict[int, str], seconds: float = 5.0) -> dict[str, float]:
    """CPU milliseconds per second each role spends with every stream empty (polling,
    housekeeping), summed over its processes."""
    time.sleep(2.0)  # past start-up
    before = {pid: _cpu_seconds(pid) for pid in processes}
    time.sleep(seconds)
    idle: dict[str, float] = {}
    for pid, role in processes.items():
        used = _cpu_seconds(pid) - before[pid]
        idle[role] = idle.get(role, 0.0) + 1000 * used / seconds
    return dict(sorted(idle.items()))


def run_paced(pipeline: Pipeline, corpus: Corpus, rate: float, tag: str) -> dict[str, Any]:
    """Post URLs one at a time at `rate` per second; latency from submission to indexed."""
    count = max(50, int(rate * 30))
    urls = corpus.urls(count, tag)
    ids = []
    started = time.monotonic()
    for n, url in enumerate(urls):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ids += pipeline.submit([url])
    _, states = _wait_done(pipeline, ids, timeout=600)
    latencies = sorted(
        float(s[b"updated_at"]) - float(s[b"submitted_at"])
        for s in states
        if s.get(b"status") == b"indexed"
    )
    return {
        "rate_per_s": rate,
        "articles": count,
        "latency_s": {
            "p50": _percentile(latencies, 50),
            "p95": _percentile(latencies, 95),
            "p99": _percentile(latencies, 99),
        },
        "latencies": latencies,
    }


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(pct / 100 * (len(values) - 1)))]


# --- the backlog -------------------------------------------------------------------------


def run_backlog(urls: int, work: Path) -> dict[str, Any]:
    """Post `urls` to the API with no stage running; what Redis holds for them."""
    port, api_port = free_port(), free_port()
    server = start_valkey(work / "backlog-redis", port)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "OTEL_"))}
    env |= {
        "NEWSFLOW_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "NEWSFLOW_DATA_DIR": str(work / "backlog"),
        "NEWSFLOW_API_PORT": str(api_port),
        "NEWSFLOW_INGEST_BACKLOG_LIMIT": str(urls + 1),
        "NEWSFLOW_LOG_LEVEL": "warning",
    }
    api = subprocess.Popen([sys.executable, "-m", "services.cli", "api"], cwd=REPO, env=env)
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        before = int(client.info("memory")["used_memory"])
        started = time.monotonic()
        with httpx.Client(timeout=60) as http:
            for first in range(0, urls, 1000):
                batch = [
                    f"https://news{n % 97}.example.com/2024/03/story-{n}.html"
                    for n in range(first, min(urls, first + 1000))
                ]
                http.post(
                    f"http://127.0.0.1:{api_port}/v1/articles", json={"urls": batch}
                ).raise_for_status()
        elapsed = time.monotonic() - started
        held = int(client.info("memory")["used_memory"]) - before
    finally:
        client.close()
        api.terminate()
        api.wait()
        server.terminate()
        server.wait()
    return {
        "urls": urls,
        "redis_mb": held / 1e6,
        "bytes_per_url": held / urls,
        "submitted_per_s": urls / elapsed,
    }


# --- report ------------------------------------------------------------------------------


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for run in results["pipeline"]:
        samples = run["indexed_over_time"]
        rates = [(t1, (n1 - n0) / (t1 - t0)) for (t0, n0), (t1, n1) in pairwise(samples) if t1 > t0]
        left.plot(
            [t for t, _ in rates],
            [r for _, r in rates],
            label=f"{run['extract_processes']} extract process(es)",
        )
    left.axhline(results["limit"]["articles_per_s"], linestyle="--", color="grey", label="limit")
    left.set(xlabel="seconds", ylabel="articles indexed per second", title="Throughput")
    left.legend()
    for run in results["pipeline"]:
        right.hist(
            [1000 * s for s in run["paced"]["latencies"]],
            bins=40,
            alpha=0.6,
            label=f"{run['extract_processes']} extract, {run['paced']['rate_per_s']:.1f}/s",
        )
    right.set(xlabel="ms from submission to indexed", ylabel="articles", title="Latency")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _report(results: dict[str, Any]) -> None:
    limit = results["limit"]
    rounds = results["rounds"]
    print("\narticles per second in each round (the order reversed every other round):")
    for found in rounds:
        runs = ", ".join(
            f"{run['extract_processes']} extract {run['articles_per_s']:.1f}"
            f" ({run['ratio']:.2f} of the limit)"
            for run in found["pipeline"]
        )
        print(f"  round {found['round']}: limit {found['limit']['articles_per_s']:.1f}; {runs}")
    print(f"\nmedians over {len(rounds)} round(s) from here on")
    print(
        f"\nlimit ({limit['processes']} processes, stage handlers in plain loops):"
        f" {limit['articles_per_s']:.1f} articles/s"
    )
    print("  CPU ms per article: " + _stages(limit["cpu_ms_per_article"]))
    print(
        "  wall ms per article in each call: "
        + ", ".join(f"{k} {v:.1f}" for k, v in limit["wall_ms_per_article"].items())
        + f"; waiting for a fetched page {limit['waited_for_pages_ms_per_article']:.1f}"
    )
    print(
        f"  busy {limit['busy']:.2f} (process trees' CPU / loop wall; below 1 where other"
        " work on the machine takes the cores)"
    )
    for run in results["pipeline"]:
        print(
            f"\npipeline, {run['extract_processes']} extract process(es):"
            f" {run['articles_per_s']:.1f} articles/s ({run['articles']} in"
            f" {run['elapsed_s']:.1f} s; {run['outcomes']})"
        )
        print("  CPU ms per article: " + _stages(run["cpu_ms_per_article"]))
        print("  idle CPU ms per second (every stream empty): " + _stages(run["idle_cpu_ms_per_s"]))
        overhead = run["overhead_cpu_ms_per_message"]
        print("  overhead, CPU ms per message (pipeline - limit): " + _stages(overhead["total"]))
        print("    of which idle polling during the run, at most: " + _stages(overhead["idle"]))
        print("    the rest, per message handled (at least): " + _stages(overhead["per_message"]))
        print(
            "  peak memory MB: " + ", ".join(f"{k} {v:.0f}" for k, v in run["peak_rss_mb"].items())
        )
        print(
            f"  Redis: +{run['redis_used_memory_mb']:.1f} MB after the run,"
            f" peak {run['redis_peak_memory_mb']:.1f} MB"
        )
        paced = run["paced"]
        lat = paced["latency_s"]
        print(
            f"  latency at {paced['rate_per_s']:.1f}/s (half the throughput, after the rounds),"
            f" {paced['articles']} articles: p50 {1000 * lat['p50']:.0f} ms,"
            f" p95 {1000 * lat['p95']:.0f} ms, p99 {1000 * lat['p99']:.0f} ms"
        )
    side = results["side_by_side"]
    print(
        f"\nside by side, at the same time: the limit (1 process, {side['limit']['articles']}"
        f" articles) and the pipeline ({side['pipeline']['extract_processes']} extract,"
        f" {side['pipeline']['articles']} articles)"
    )
    print("  limit CPU ms per article: " + _stages(side["limit"]["cpu_ms_per_article"]))
    print("  pipeline CPU ms per article: " + _stages(side["pipeline"]["cpu_ms_per_article"]))
    print("  overhead, CPU ms per message: " + _stages(side["overhead_cpu_ms_per_message"]))
    print(f"  CPU per article, limit / pipeline: {side['cpu_ratio']:.2f}")
    backlog = results["backlog"]
    print(
        f"\nbacklog: {backlog['urls']:,} URLs queued through the API hold"
        f" {backlog['redis_mb']:.1f} MB in Redis ({backlog['bytes_per_url']:.0f} bytes per URL;"
        f" submitted at {backlog['submitted_per_s']:.0f} URLs/s)"
    )
    if backlog["urls"] != 100_000:
        print(f"  100,000 URLs at that rate: {backlog['bytes_per_url'] * 100_000 / 1e6:.1f} MB")
    best = max(results["pipeline"], key=lambda run: run["articles_per_s"])
    limit_cpu = sum(limit["cpu_ms_per_article"].values())
    pipeline_cpu = sum(best["cpu_ms_per_article"].values())
    print(
        f"\nCPU per article, limit / pipeline (all processes, Redis included):"
        f" {limit_cpu:.1f} / {pipeline_cpu:.1f} ms = {limit_cpu / pipeline_cpu:.2f}"
        " (the ratio throughput reaches when every core is busy with this alone)"
    )
    ratios = ", ".join(
        f"{run['ratio']:.2f}"
        for found in rounds
        for run in found["pipeline"]
        if run["extract_processes"] == best["extract_processes"]
    )
    print(
        f"pipeline / limit: {best['ratio']:.2f}, the median of the rounds' {ratios}"
        f" ({best['extract_processes']} extract process(es))"
    )


def _overhead(limit: dict[str, Any], run: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per message and role: pipeline CPU less the limit's (what the broker hops,
    serialisation, telemetry, status updates and separate processes cost); the part of it
    that idle polling over the run's length can explain; and the rest."""
    roles = [*STAGES, "api", "redis"]
    seconds_per_article = run["elapsed_s"] / run["articles"]
    total = {
        role: run["cpu_ms_per_article"].get(role, 0.0) - limit["cpu_ms_per_article"].get(role, 0.0)
        for role in roles
    }
    idle = {role: run["idle_cpu_ms_per_s"].get(role, 0.0) * seconds_per_article for role in roles}
    return {
        "total": total,
        "idle": idle,
        "per_message": {role: total[role] - idle[role] for role in roles},
    }


def _stages(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {values.get(name, 0.0):.1f}" for name in [*STAGES, "api", "redis"])


@contextmanager
def _corpus(hosts: int) -> Iterator[Corpus]:
    corpus = Corpus(hosts)
    try:
        yield corpus
    finally:
        corpus.close()


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's shape with the median of every figure over `runs`; what is not a figure
    (samples over time, the latency run) comes from the last run that has it."""
    merged: dict[str, Any] = {}
    for key in dict.fromkeys(k for run in runs for k in run):
        values = [run[key] for run in runs if run.get(key) is not None]
        if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            middle = statistics.median(values)
            whole = all(isinstance(v, int) for v in values) and middle == int(middle)
            merged[key] = int(middle) if whole else middle
        elif values and all(isinstance(v, dict) for v in values):
            merged[key] = _median_run(values)
        else:
            merged[key] = values[-1] if values else None
    return merged


def _rounds(
    corpus: Corpus, args: argparse.Namespace, extracts: list[int], work: Path, allow: str
) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]], dict[str, Any]]:
    """The limit and each pipeline once per round, the order reversed every other round,
    so that a machine getting slower or faster during the run weighs on both sides alike.

    Each pipeline is started once and left running, idle, between its runs; after the last
    round come the side-by-side run, then the latency runs and peak memory. Returns the
    rounds, per pipeline what came after them, and the side-by-side run."""
    cores = os.cpu_count() or 1
    pipelines: dict[int, Pipeline] = {}
    idle: dict[int, dict[str, float]] = {}
    try:
        for extract in extracts:
            print(f"starting newsflow up with {extract} extract process(es)", flush=True)
            pipelines[extract], idle[extract] = start_pipeline(
                work / f"pipeline-{extract}", allow, extract
            )
        rounds = []
        for number in range(1, args.rounds + 1):
            order: list[int | None] = [None, *extracts]  # None: the limit
            if number % 2 == 0:
                order.reverse()
            found: dict[str, Any] = {"round": number, "pipeline": []}
            for extract in order:
                if extract is None:
                    print(f"round {number}: the limit", flush=True)
                    found["limit"] = run_limit(
                        corpus,
                        args.articles,
                        cores,
                        work / f"limit-{number}",
                        allow,
                        tag=f"r{number}-limit",
                    )
                    continue
                print(f"round {number}: the pipeline, {extract} extract process(es)", flush=True)
                run = run_pipeline(
                    pipelines[extract], corpus, args.articles, extract, tag=f"r{number}-{extract}"
                )
                run["idle_cpu_ms_per_s"] = idle[extract]
                found["pipeline"].append(run)
            found["pipeline"].sort(key=lambda run: run["extract_processes"])
            for run in found["pipeline"]:
                run["overhead_cpu_ms_per_message"] = _overhead(found["limit"], run)
                run["ratio"] = run["articles_per_s"] / found["limit"]["articles_per_s"]
            rounds.append(found)
        extract = max(extracts)
        print(f"side by side: the limit and the pipeline ({extract} extract) at once", flush=True)
        side = run_side_by_side(
            pipelines[extract], corpus, args.articles, extract, work=work, allow=allow
        )
        after: dict[int, dict[str, Any]] = {}
        for extract in extracts:
            print(f"latency, {extract} extract process(es)", flush=True)
            throughput = statistics.median(
                run["articles_per_s"]
                for found in rounds
                for run in found["pipeline"]
                if run["extract_processes"] == extract
            )
            after[extract] = finish_pipeline(
                pipelines.pop(extract), corpus, throughput, f"paced-{extract}"
            )
    finally:
        for pipeline in pipelines.values():
            pipeline.close()
    return rounds, after, side


def run_side_by_side(
    pipeline: Pipeline, corpus: Corpus, articles: int, extract: int, *, work: Path, allow: str
) -> dict[str, Any]:
    """One limit process and the pipeline at the same time, so both see the machine in the
    same state: the CPU each spends per article, stage by stage, free of the drift between
    one run and the next. The limit, on about a third of the cores, gets half the articles,
    so that both take about as long."""
    found: dict[str, Any] = {}
    started = multiprocessing.get_context("spawn").Event()
    limit = threading.Thread(
        target=lambda: found.update(
            limit=run_limit(
                corpus,
                max(20, articles // 2),
                1,
                work / "side-limit",
                allow,
                tag="side-limit",
                loop_started=started,
            )
        ),
        daemon=True,
    )
    limit.start()
    started.wait(timeout=300)  # past the limit's start-up (spaCy, the clean child)
    run = run_pipeline(pipeline, corpus, articles, extract, tag="side-pipeline")
    limit.join()
    if "limit" not in found:
        raise SystemExit("the side-by-side limit process failed")
    totals = {
        "limit": sum(found["limit"]["cpu_ms_per_article"].values()),
        "pipeline": sum(run["cpu_ms_per_article"].values()),
    }
    return {
        "limit": found["limit"],
        "pipeline": run,
        "overhead_cpu_ms_per_message": {
            role: run["cpu_ms_per_article"].get(role, 0.0)
            - found["limit"]["cpu_ms_per_article"].get(role, 0.0)
            for role in [*STAGES, "api", "redis"]
        },
        "cpu_ratio": totals["limit"] / totals["pipeline"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1000, help="URLs per run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of the limit and of each pipeline, alternated"
    )
    parser.add_argument("--hosts", type=int, default=32, help="host addresses of the corpus")
    parser.add_argument("--backlog", type=int, default=100_000, help="URLs for the backlog run")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    parser.add_argument(
        "--quick", action="store_true", help="only the two-extract pipeline run (make bench)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    extracts = [2] if args.quick else [1, 2]
    with (
        tempfile.TemporaryDirectory(prefix="newsflow-bench-") as tmp,
        _corpus(args.hosts) as corpus,
    ):
        work = Path(tmp)
        allow = ",".join(corpus.origins)
        print(
            f"corpus: {args.hosts} hosts; {cores} cores; {args.articles} articles per run;"
            f" {args.rounds} round(s)",
            flush=True,
        )
        rounds, after, side = _rounds(corpus, args, extracts, work, allow)
        print("the backlog", flush=True)
        backlog = run_backlog(args.backlog, work)
    results: dict[str, Any] = {
        "machine": {"cores": cores, "python": sys.version.split()[0]},
        "arguments": {"articles": args.articles, "rounds": args.rounds, "hosts": args.hosts},
        "limit": _median_run([found["limit"] for found in rounds]),
        "pipeline": [
            _median_run([found["pipeline"][n] for found in rounds]) | after[extract]
            for n, extract in enumerate(extracts)
        ],
        "rounds": rounds,
        "side_by_side": side,
        "backlog": backlog,
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path = args.out / f"pipeline-{stamp}.json"
    json_path.write_text(json.dumps(results, indent=2))
    _plot(results, args.out / f"pipeline-{stamp}.png")
    _report(results)
    print(f"\nresults: {json_path} and {json_path.with_suffix('.png')}")


if __name__ == "__main__":
    main()
