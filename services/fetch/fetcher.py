"""Download one page with bounded time and size, checking every redirect hop."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urljoin

import charset_normalizer
import httpx

from services.fetch.guard import AddressGuard
from shared.errors import NotAnArticle, PermanentError, RetryableError
from shared.observability import count_fetch_response, count_fetched_bytes
from shared.settings import Settings
from shared.urls import canonical_url

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str
    final_url: str
    status_code: int
    content_type: str
    html: str
    size_bytes: int


def build_client(settings: Settings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        connect=settings.fetch_connect_timeout,
        read=settings.fetch_read_timeout,
        write=settings.fetch_read_timeout,
        pool=settings.fetch_connect_timeout,
    )
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,  # each hop is checked by the guard first
        headers={
            "User-Agent": settings.fetch_user_agent,
            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
        },
        trust_env=False,
    )


async def fetch_page(
    url: str, client: httpx.AsyncClient, guard: AddressGuard, settings: Settings
) -> FetchedPage:
    """Fetch `url`, following at most `fetch_max_redirects` redirects.

    Raises `PermanentError` (refused address, 4xx, too large), `RetryableError` (network,
    5xx, 429) or `NotAnArticle` (not HTML).
    """
    try:
        async with asyncio.timeout(settings.fetch_total_timeout):
            return await _follow(url, client, guard, settings)
    except TimeoutError as exc:
        raise RetryableError(
            f"page took longer than {settings.fetch_total_timeout:g} s to download"
        ) from exc


async def _follow(
    url: str, client: httpx.AsyncClient, guard: AddressGuard, settings: Settings
) -> FetchedPage:
    current = url
    for _hop in range(settings.fetch_max_redirects + 1):
        await guard.check(current)
        try:
            async with client.stream("GET", current) as response:
                count_fetch_response(response.status_code)
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    if not location:
                        raise PermanentError(
                            f"HTTP {response.status_code} redirect without Location"
                        )
                    current = canonical_url(urljoin(current, location))
                    continue
                _raise_for_status(response)
                content_type = _media_type(response.headers.get("content-type", "text/html"))
                if content_type not in HTML_TYPES:
                    raise NotAnArticle(f"content type {content_type} is not HTML")
                body = await _read_capped(response, settings.fetch_max_bytes)
                count_fetched_bytes(len(body))
        except httpx.TransportError as exc:
            raise RetryableError(
                f"network error fetching {current}: {type(exc).__name__} {exc}"
            ) from exc
        return FetchedPage(
            url=url,
            final_url=current,
            status_code=response.status_code,
            content_type=content_type,
            html=decode_html(body, response.headers.get("content-type")),
            size_bytes=len(body),
        )
    raise PermanentError(f"more than {settings.fetch_max_redirects} redirects")


def _raise_for_status(response: httpx.Response) -> None:
    code = response.status_code
    if code < 300:
        return
    phrase = f"HTTP {code} {response.reason_phrase}".strip()
    if code == 429 or code >= 500:
        raise RetryableError(phrase)
    raise PermanentError(phrase)


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise PermanentError(f"body over {_megabytes(limit)}")
        chunks.append(chunk)
    return b"".join(chunks)


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def _media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower() or "text/html"


def _charset_from_header(header: str | None) -> str | None:
    if not header:
        return None
    message = Message()
    message["content-type"] = header
    charset = message.get_param("charset")
    return charset if isinstance(charset, str) else None


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode by BOM, then the header's charset, then `<meta charset>`, then detection."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, "replace")
    declared = _charset_from_header(content_type)
    if declared is None and (match := _META_CHARSET.search(body[:4096])):
        declared = match.group(1).decode("ascii")
    if declared:
        try:
            return body.decode(declared, "replace")
        except LookupError:
            pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        best = charset_normalizer.from_bytes(body).best()
        return str(best) if best is not None else body.decode("utf-8", "replace")
