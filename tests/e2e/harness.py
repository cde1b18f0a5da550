"""Running `newsflow up` as a user does, for the end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
TERMINAL = {"indexed", "failed", "skipped"}


@dataclass
class Newsflow:
    process: subprocess.Popen[bytes]
    api: str
    redis_port: int
    api_port: int
    log: Path

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

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

    def stage_pids(self, stage: str) -> list[int]:
        """The pids of the stage's running worker processes."""
        return [
            pid
            for pid, cmdline in children(self.process.pid).items()
            if cmdline.rstrip().endswith(f"worker {stage}")
        ]

    def stage_pid(self, stage: str) -> int | None:
        """The pid of one of the stage's worker processes, if one is running."""
        return next(iter(self.stage_pids(stage)), None)


def own_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process `pid` itself (not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> dict[int, str]:
    """Child processes of `pid` by pid, with their command lines."""
    found: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            listed = (task / "children").read_text().split()
        except FileNotFoundError:
            continue  # a thread that ended while we looked
        for child in listed:
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            except FileNotFoundError:
                continue  # exited while we looked
            found[int(child)] = cmdline.decode()
    return found


def free_ports_in_a_row(count: int) -> int:
    """The first of `count` consecutive ports that are free now."""
    for _ in range(50):
        base = free_port()
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise AssertionError(f"no {count} consecutive free ports")


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


@contextmanager
def newsflow_up(
    data_dir: Path,
    env: Mapping[str, str],
    redis_port: int | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[Newsflow]:
    """`newsflow up` with `env` on top of a clean environment, stopped with SIGTERM after.

    With `redis_port`, the stages use the server already listening there (the test owns
    it); otherwise `newsflow up` starts its embedded Valkey on a free port.
    """
    api_port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "OTEL_"))}
    base |= {
        "NEWSFLOW_DATA_DIR": str(data_dir),
        "NEWSFLOW_API_PORT": str(api_port),
        "NEWSFLOW_LOG_FORMAT": "json",
    }
    if redis_port is None:
        redis_port = free_port()
        base["NEWSFLOW_EMBEDDED_REDIS_PORT"] = str(redis_port)
    else:
        base["NEWSFLOW_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "newsflow.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", *args],
            cwd=REPO,
            env=base | dict(env),
            stdout=out,
            stderr=out,
        )
    api = f"http://127.0.0.1:{api_port}"
    try:
        _wait_healthy(api, process, log)
        yield Newsflow(process, api, redis_port, api_port, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
