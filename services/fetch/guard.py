"""Refuse to fetch from internal addresses: loopback, private, link-local, reserved.

Names are resolved and every resolved address is checked, so odd spellings that resolvers
accept (`2130706433`, `0x7f.1`, `127.1`) are caught as the address they resolve to.
`NEWSFLOW_FETCH_ALLOW` names exact `host:port` exceptions (for tests and local demos).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from shared.errors import PermanentError, RetryableError
from shared.urls import DEFAULT_PORTS


class AddressRefused(PermanentError):
    """The URL points at an address newsflow must not connect to."""


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    return host, parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 80)


class AddressGuard:
    def __init__(self, allow: list[str]) -> None:
        pairs = set()
        for entry in allow:
            host, _, port = entry.rpartition(":")
            pairs.add((host.strip("[]").lower(), int(port)))
        self._allow = frozenset(pairs)

    def allows(self, host: str, port: int) -> bool:
        return (host, port) in self._allow

    async def check(self, url: str) -> None:
        """Raise `AddressRefused` unless every address `url`'s host resolves to is public."""
        host, port = host_port(url)
        if self.allows(host, port):
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                raise PermanentError(f"host {host!r} does not resolve") from exc
            raise RetryableError(f"cannot resolve host {host!r}: {exc}") from exc
        for info in infos:
            address = str(info[4][0])
            if not is_public_address(address):
                raise AddressRefused(f"address is internal: {host} resolves to {address}")
