"""The HTTP client the fetch stage uses, and bounded reading of a response body."""

from __future__ import annotations

import ssl

import certifi
import httpcore
import httpx

from services.fetch.decoding import ACCEPT_ENCODING, decode_content, megabytes
from services.fetch.guard import AddressGuard, GuardedNetworkBackend
from shared.errors import PermanentError
from shared.settings import Settings


def build_client(settings: Settings) -> httpx.AsyncClient:
    """A client that connects only to addresses the guard checked, and never follows redirects.

    Redirects are followed by the caller, hop by hop, so each hop passes robots.txt and the
    host's politeness slot too; the guard sits in the transport, where connections are made.
    """
    timeout = httpx.Timeout(
        connect=settings.fetch_connect_timeout,
        read=settings.fetch_read_timeout,
        write=settings.fetch_read_timeout,
        pool=settings.fetch_connect_timeout,
    )
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx has no parameter for httpcore's network backend: its pool is replaced by one with
    # httpx's default limits and the guarded backend.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl.create_default_context(cafile=certifi.where()),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=GuardedNetworkBackend(AddressGuard(settings.fetch_allow)),
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        headers={
            "User-Agent": settings.fetch_user_agent,
            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
            "Accept-Encoding": ACCEPT_ENCODING,
        },
        trust_env=False,
    )


async def read_body(
    response: httpx.Response, max_bytes: int, max_decoded: int, *, truncate: bool = False
) -> bytes:
    """The decoded body, with at most `max_bytes` received and `max_decoded` after decoding.

    Over either cap raises `PermanentError`, or with `truncate` keeps what came within it.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > max_bytes:
            if not truncate:
                raise PermanentError(f"body over {megabytes(max_bytes)}")
            chunks.append(chunk[: len(chunk) - (size - max_bytes)])
            break
        chunks.append(chunk)
    encoding = response.headers.get("content-encoding")
    return decode_content(chunks, encoding, max_decoded, truncate=truncate)
