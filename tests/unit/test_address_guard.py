"""services.fetch.guard: internal addresses are refused, however the URL spells them.

The names used here (numeric spellings and `localhost`) resolve without any network.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from services.fetch.guard import AddressGuard, AddressRefused, host_port, is_public_address
from shared.errors import PermanentError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456:789a::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        # IPv4 inside IPv6: NAT64, 6to4, IPv4-translated and IPv4-compatible forms.
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::a00:1",
        "2002:7f00:1::",
        "2002:a9fe:a9fe::1",
        "::ffff:0:7f00:1",
        "::7f00:1",
        "::127.0.0.1",
        "2001::1",  # Teredo
        "fec0::1",  # site-local
        "2001:db8::1",  # documentation
        "100::1",  # discard
        "192.0.0.8",
        "192.0.2.1",
        "198.18.0.1",
        "198.51.100.1",
        "203.0.113.1",
        "240.0.0.1",
        "100.127.255.254",
    ],
)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert is_public_address(address) is False


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # NAT64 of a public address
        "2002:808:808::1",  # 6to4 of a public address
    ],
)
def test_global_unicast_addresses_are_public(address: str) -> None:
    assert is_public_address(address) is True


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://Example.COM/a", ("example.com", 80)),
        ("https://example.com/a", ("example.com", 443)),
        ("http://example.com:8080/a", ("example.com", 8080)),
        ("http://example.com./a", ("example.com", 80)),
        ("http://[::1]:8443/", ("::1", 8443)),
    ],
)
def test_host_port(url: str, expected: tuple[str, int]) -> None:
    assert host_port(url) == expected


@pytest.mark.parametrize(
    ("url", "resolved"),
    [
        ("http://2130706433/", "127.0.0.1"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://0x7f000001/", "127.0.0.1"),
        ("http://017700000001/", "127.0.0.1"),
        ("http://127.1/", "127.0.0.1"),
        ("http://0/", "0.0.0.0"),
        ("http://10.1/", "10.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::1]/", "::1"),
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1"),
        ("http://[fe80::1]/", "fe80::1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        ("http://0x7f.0x0.0x0.0x1/", "127.0.0.1"),
        ("http://127.000.000.001/", "127.0.0.1"),
        ("http://[::]/", "::"),
        ("http://[64:ff9b::7f00:1]/", "64:ff9b::7f00:1"),
        ("http://[2002:a9fe:a9fe::]/", "2002:a9fe:a9fe::"),
        ("http://[0:0:0:0:0:ffff:7f00:1]/", "::ffff:127.0.0.1"),
        ("http://localhost/", None),
        ("http://LOCALHOST.:8080/", None),
    ],
)
async def test_internal_spellings_are_refused(url: str, resolved: str | None) -> None:
    guard = AddressGuard([])
    with pytest.raises(AddressRefused) as excinfo:
        await guard.check(url)
    reason = excinfo.value.reason
    assert "address is internal" in reason
    if resolved is not None:
        assert reason.endswith(resolved)


async def test_allow_list_entry_is_exact_host_and_port() -> None:
    guard = AddressGuard(["127.0.0.1:8080"])
    await guard.check("http://127.0.0.1:8080/page.html")  # allowed: no exception
    with pytest.raises(AddressRefused, match="address is internal"):
        await guard.check("http://127.0.0.1:8081/page.html")
    with pytest.raises(AddressRefused, match="address is internal"):
        await guard.check("http://127.0.0.1/page.html")
    # The entry names a host, not an address: another name for it is still refused.
    with pytest.raises(AddressRefused, match="address is internal"):
        await guard.check("http://2130706433:8080/page.html")


async def test_allow_list_uses_the_scheme_default_port() -> None:
    guard = AddressGuard(["localhost:80"])
    await guard.check("http://localhost/")
    with pytest.raises(AddressRefused):
        await guard.check("https://localhost/")


def test_allows_is_exact() -> None:
    guard = AddressGuard(["127.0.0.1:8080", "localhost:9000"])
    assert guard.allows("127.0.0.1", 8080)
    assert guard.allows("localhost", 9000)
    assert not guard.allows("127.0.0.1", 9000)
    assert not guard.allows("localhost", 8080)
    assert not guard.allows("127.0.0.2", 8080)


def test_refusal_is_permanent() -> None:
    assert issubclass(AddressRefused, PermanentError)


async def test_bracketed_ipv6_allow_entry_matches_its_url() -> None:
    guard = AddressGuard(["[::1]:8080"])
    await guard.check("http://[::1]:8080/page")
    with pytest.raises(AddressRefused):
        await guard.check("http://[::1]:8081/page")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://x/"])
async def test_only_http_and_https(url: str) -> None:
    with pytest.raises(AddressRefused, match="is not http or https"):
        await AddressGuard([]).check(url)


async def test_one_internal_address_among_public_ones_refuses_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()

    async def mixed(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(loop, "getaddrinfo", mixed)
    with pytest.raises(AddressRefused, match=r"mixed\.test resolves to 10\.0\.0\.5"):
        await AddressGuard([]).resolve("mixed.test", 80)
