"""Redis clients whose sends are bounded by `asyncio.timeout` rather than `asyncio.wait_for`.

redis-py bounds each command it sends by `socket_timeout` (5 s unless set) with
`asyncio.wait_for`. On Python 3.11 that has two costs:

- it can lose a cancellation: a cancel that arrives as the send completes is dropped, so an
  `asyncio.timeout` around a block that talks to Redis may expire without ending the block
  (CPython fixed this in 3.12, where `wait_for` is built on `asyncio.timeout`);
- it runs every send as a task of its own, with a timer: about a tenth of the client's CPU
  for a command on a local server.

`TimelySend` sends inside `asyncio.timeout` instead; the rest is redis-py's own
`send_packed_command` (redis 8), and `tests/component/test_redis_client.py` fails when
redis-py's changes shape. Every client the project makes comes from `connect` or uses
`connection_class_for` (the FastStream broker), so all of them send this way. Before
Python 3.11.3, whose `asyncio.timeout` redis-py itself avoids, the stock classes are used.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class TimelySend(AbstractConnection):
    """redis-py's `send_packed_command`, bounded by `asyncio.timeout`."""

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()  # type: ignore[no-untyped-call]
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        writer = self._writer
        assert writer is not None  # connected above
        try:
            async with asyncio.timeout(self.socket_timeout or None):
                writer.writelines(command)
                await writer.drain()
        except TimeoutError:  # before OSError, its base class
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            number, message = ("UNKNOWN", exc.args[0]) if len(exc.args) == 1 else exc.args[:2]
            raise RedisConnectionError(
                f"Error {number} while writing to socket. {message}."
            ) from exc
        except BaseException:
            # A send cut short (cancelled) leaves the stream mid-command: start afresh.
            await self.disconnect(nowait=True)
            raise


class TimelyConnection(TimelySend, Connection):
    pass


class TimelySSLConnection(TimelySend, SSLConnection):
    pass


class TimelyUnixDomainSocketConnection(TimelySend, UnixDomainSocketConnection):
    pass


_TIMELY: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: TimelyConnection,
    SSLConnection: TimelySSLConnection,
    UnixDomainSocketConnection: TimelyUnixDomainSocketConnection,
}


def connection_class_for(url: str) -> type[AbstractConnection]:
    """The connection class for `url` (`redis://`, `rediss://` or `unix://`), sending timely."""
    chosen: type[AbstractConnection] = parse_url(url).get("connection_class", Connection)
    if sys.version_info < (3, 11, 3):
        return chosen
    return _TIMELY.get(chosen, chosen)


def connect(url: str, **options: Any) -> Redis:
    """A client for `url`, its connections sending timely; closing it closes its pool.

    `options` are connection options as `ConnectionPool.from_url` takes them
    (`socket_timeout`, `protocol`, ...); the connection class always follows the URL's
    scheme."""
    pool = ConnectionPool.from_url(url, **options)
    pool.connection_class = connection_class_for(url)
    return Redis.from_pool(pool)  # closing the client closes its pool, as with from_url
