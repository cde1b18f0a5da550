"""The project's Redis clients (`shared.redis_client`) against a real Valkey: a timeout around
Redis calls ends its block every time, and a send that cannot finish still times out."""

from __future__ import annotations

import asyncio
import inspect
import random
import socket
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.broker import create_broker
from shared.redis_client import (
    TimelyConnection,
    TimelySSLConnection,
    TimelyUnixDomainSocketConnection,
    connect,
    connection_class_for,
)
from shared.settings import Settings

pytestmark = pytest.mark.component


async def test_a_timeout_around_redis_calls_always_ends_its_block(redis_server: str) -> None:
    """Cut at random moments, a loop of commands ends with the timeout every time.

    redis-py's own sends (`asyncio.wait_for`) lose most of these cancellations on Python
    3.11: measured here, 113 and 134 of 200 loops ran on to their 0.2 s guard.
    """
    client = connect(redis_server)
    await client.ping()
    ran_on = 0
    try:
        for _ in range(100):
            started = time.monotonic()
            try:
                async with asyncio.timeout(random.uniform(0, 0.002)):
                    while time.monotonic() < started + 0.2:
                        await client.ping()
                ran_on += 1
            except TimeoutError:
                pass
        assert await client.ping()  # the connection cut mid-command was replaced
    finally:
        await client.aclose()
    assert ran_on == 0


@pytest.fixture
def deaf_server() -> Iterator[int]:
    """Listens and never accepts: the kernel completes the connection, and a large send
    fills the socket's buffers and then waits."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


async def test_a_send_the_server_does_not_take_times_out(deaf_server: int) -> None:
    """As redis-py's own send does: the socket_timeout bounds a send that cannot finish."""
    # No HELLO or CLIENT SETINFO on connecting, so the first command is the one that blocks.
    client = connect(
        f"redis://127.0.0.1:{deaf_server}", socket_timeout=0.3, protocol=2, driver_info=None
    )
    started = time.monotonic()
    try:
        with pytest.raises(RedisTimeoutError, match="Timeout writing to socket"):
            await client.set("big", b"x" * (64 * 1024 * 1024))
    finally:
        await client.aclose()
    assert time.monotonic() - started < 5


def test_the_send_it_replaces_is_still_redis_pys_own() -> None:
    """`TimelySend` is redis-py's `send_packed_command` with `asyncio.timeout` for
    `asyncio.wait_for`: if an upgrade changes redis-py's, this fails, and the copy is
    reviewed against it."""
    source = inspect.getsource(AbstractConnection.send_packed_command)
    for step in (
        "await self.connect_check_health(check_health=False)",
        "await self.check_health()",
        "await asyncio.wait_for(",
        "self._writer.writelines(command)",
        "await self._writer.drain()",
        'raise TimeoutError("Timeout writing to socket") from None',
        "raise ConnectionError(",
        "except BaseException:",
    ):
        assert step in source, step
    assert source.count("await self.disconnect(nowait=True)") == 3


async def test_the_broker_connects_with_timely_sends(redis_server: str, settings: Settings) -> None:
    broker = create_broker(settings, TracerProvider(), "test")
    client = await broker.connect()
    try:
        assert client.connection_pool.connection_class is TimelyConnection
    finally:
        await broker.stop()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost:6379/0", TimelyConnection),
        ("rediss://localhost:6380/0", TimelySSLConnection),
        ("unix:///run/redis.sock", TimelyUnixDomainSocketConnection),
    ],
)
def test_every_scheme_gets_its_own_class_sending_timely(url: str, expected: type) -> None:
    assert connection_class_for(url) is expected
    client = connect(url)
    assert client.connection_pool.connection_class is expected
