"""Refuse to connect to internal addresses, on every hop, however the host is spelled.

The check sits where the connection is made: `GuardedNetworkBackend` resolves the host once,
checks every address it resolves to, and connects to a checked address itself. A name that
resolves to a public address for the check and an internal one for the connection (DNS
rebinding) therefore cannot get through, and odd spellings that resolvers accept
(`2130706433`, `0x7f.1`, `127.1`) are judged by the address they resolve to.

`NEWSFLOW_FETCH_ALLOW` names exact `host:port` exceptions (for tests and local demos).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore

from shared.errors import PermanentError, RetryableError
from shared.urls import DEFAULT_PORTS

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64 (RFC 6052, 8215)
# and IPv4-translated addresses (RFC 2765). The embedded address decides.
_EMBEDS_IPV4_LOW32 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
)
# IANA special-purpose ranges that are not globally reachable, listed here as well as left
# to `ipaddress`, whose tables differ between Python versions.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/96",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)


class AddressRefused(PermanentError):
    """The URL points at an address newsflow must not connect to."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _EMBEDS_IPV4_LOW32):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_public(ip: IPAddress) -> bool:
    if any(ip.version == net.version and ip in net for net in _NOT_PUBLIC):
        return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_reserved
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
    )


def is_public_address(address: str) -> bool:
    """True only for a global unicast address, judging IPv4 inside IPv6 by the IPv4 part."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return _is_public(embedded)
    return _is_public(ip)


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    return host, parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 80)


class AddressGuard:
    def __init__(self, allow: Iterable[str]) -> None:
        pairs = set()
        for entry in allow:
            host, _, port = entry.rpartition(":")
            pairs.add((host.strip("[]").rstrip(".").lower(), int(port)))
        self._allow = frozenset(pairs)

    def allows(self, host: str, port: int) -> bool:
        return (host.strip("[]").rstrip(".").lower(), port) in self._allow

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to, once; `AddressRefused` if any is internal.

        An allowed `host:port` is resolved but not judged.
        """
        name = host.strip("[]").rstrip(".").lower()
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                raise PermanentError(f"host {name!r} does not resolve") from exc
            raise RetryableError(f"cannot resolve host {name!r}: {exc}") from exc
        except UnicodeError as exc:
            raise PermanentError(f"host {name!r} is not a valid name") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise PermanentError(f"host {name!r} does not resolve")
        if not self.allows(name, port):
            for address in addresses:
                if not is_public_address(address):
                    raise AddressRefused(f"address is internal: {name} resolves to {address}")
        return addresses

    async def check(self, url: str) -> None:
        """Raise `AddressRefused` unless every address `url`'s host resolves to is public."""
        scheme = urlsplit(url).scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise AddressRefused(f"scheme {scheme or 'missing'!r} is not http or https")
        await self.resolve(*host_port(url))


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the guard at the point of connection.

    The host is resolved once, every address is checked, and the TCP connection goes to a
    checked address; TLS still names the original host (SNI and certificate check), since
    httpcore passes the host name to `start_tls` separately.
    """

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.resolve(host, port)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)
