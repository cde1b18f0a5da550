"""Download one page: bounded in time and size, polite, and checked on every redirect hop.

Each hop passes robots.txt, then waits for its host's politeness slot (freed again as soon
as the response's headers arrive), then is requested through the guarded client (which
refuses internal addresses at connection time). The time spent on the network, across all
hops, is bounded by `fetch_total_timeout`; waits for a slot are not counted in it.

Retries: a 5xx, a 429 or a network error is retried inside the same delivery up to
`fetch_retries` times, after the server's Retry-After (capped by `fetch_retry_after_max`) or
a jittered exponential backoff, as long as the wait stays within `fetch_max_wait`. Beyond
that a `RetryableError` carrying the delay leaves the entry to the stage's redelivery.
A silent server (connect or read timeout) is not retried inside the delivery, and a page
that does not arrive within the whole-response deadline fails like one over the size cap.

A host's slot is waited for at most `host_wait` (default `fetch_max_wait`); past it,
`HostBusy` says so, unless a server's own answer made the wait, in which case the
`RetryableError` carries that answer (it counts against the URL's attempts, politeness
does not).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import httpx

from services.fetch.decoding import decode_html, reject_binary
from services.fetch.guard import host_port
from services.fetch.politeness import HostBusy
from services.fetch.transport import build_client, read_body
from shared.errors import NotAnArticle, PermanentError, RetryableError
from shared.observability import count_fetch_response, count_fetched_bytes
from shared.settings import Settings
from shared.urls import canonical_url

if TYPE_CHECKING:
    from services.fetch.politeness import HeldSlot, HostSlots
    from services.fetch.robots import Robots

__all__ = [
    "HTML_TYPES",
    "FetchedPage",
    "NotModified",
    "Validators",
    "build_client",
    "decode_html",
    "fetch_page",
    "parse_retry_after",
]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_RANDOM = random.SystemRandom()


@dataclass(frozen=True, slots=True)
class Validators:
    """What the last fetch of a page said about its version (for a conditional GET)."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str
    final_url: str
    status_code: int
    content_type: str
    html: str
    size_bytes: int
    validators: Validators = Validators()


@dataclass(frozen=True, slots=True)
class NotModified:
    """The server answered 304 to a conditional GET: the stored copy is current."""

    url: str
    final_url: str


class _Transient(RetryableError):
    """A fault worth retrying inside the same delivery (5xx, 429, network)."""


def parse_retry_after(value: str | None, cap: float) -> float | None:
    """Seconds asked for by a Retry-After header (delta or HTTP date), at most `cap`."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), cap)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), cap)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Full-jitter exponential backoff: uniform in [0, base * 2**attempt], at most `cap`."""
    return _RANDOM.uniform(0, min(cap, base * 2**attempt))


def redelivery(settings: Settings) -> float:
    """When to try again in a later delivery: the backoff series continued, half-jittered."""
    ceiling = min(
        settings.fetch_max_wait, settings.fetch_backoff_base * 2 ** (settings.fetch_retries + 1)
    )
    return float(ceiling * _RANDOM.uniform(0.5, 1.0))


async def fetch_page(
    url: str,
    client: httpx.AsyncClient,
    settings: Settings,
    *,
    robots: Robots | None = None,
    slots: HostSlots | None = None,
    validators: Validators | None = None,
    host_wait: float | None = None,
    deadline: float | None = None,
) -> FetchedPage | NotModified:
    """Fetch `url`, retrying passing faults within the limits above.

    Raises `PermanentError` (refused address, robots.txt, 4xx, too large, too slow, too
    many redirects), `HostBusy` (no slot for the host within `host_wait`),
    `RetryableError` (network, 5xx, 429, a silent server) or `NotAnArticle` (not HTML).

    `deadline` (a `time.monotonic()` moment): no attempt, redirect hop or robots.txt
    lookup starts after it, and no wait (for the host's slot, or a backoff) would end past
    it; `TimeoutError` instead. A caller's `asyncio.timeout` cuts what is under way, but a
    library can swallow its cancellation (redis-py's sends did, through Python 3.11's
    `asyncio.wait_for`: see `shared.redis_client`), and the retries would then go on.
    """
    attempt = 0
    last: _Transient | None = None
    wait = settings.fetch_max_wait if host_wait is None else host_wait
    while True:
        try:
            return await _follow(
                url,
                client,
                settings,
                robots=robots,
                slots=slots,
                validators=validators,
                host_wait=wait,
                deadline=deadline,
            )
        except HostBusy as busy:
            if last is None:
                raise
            # The server asked for this wait (Retry-After): its answer is the reason.
            raise RetryableError(last.reason, retry_after=busy.retry_after) from busy
        except _Transient as exc:
            last = exc
            delay = exc.retry_after
            if delay is None:
                delay = backoff(attempt, settings.fetch_backoff_base, settings.fetch_max_wait)
            if attempt >= settings.fetch_retries or delay > settings.fetch_max_wait:
                later = exc.retry_after if exc.retry_after is not None else redelivery(settings)
                raise RetryableError(exc.reason, retry_after=later) from exc
            attempt += 1
            if slots is None or exc.retry_after is None:
                left = _time_left(deadline)
                if left is not None and delay >= left:
                    raise TimeoutError("the fetch's backoff would end past its deadline") from exc
                await asyncio.sleep(delay)  # with slots, the host's deferred slot waits


def _time_left(deadline: float | None) -> float | None:
    """Seconds until `deadline` (None without one); `TimeoutError` once it has passed."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the fetch's deadline passed before its next request")
    return left


async def _follow(
    url: str,
    client: httpx.AsyncClient,
    settings: Settings,
    *,
    robots: Robots | None,
    slots: HostSlots | None,
    validators: Validators | None,
    host_wait: float,
    deadline: float | None,
) -> FetchedPage | NotModified:
    current = url
    budget = settings.fetch_total_timeout
    for hop in range(settings.fetch_max_redirects + 1):
        left = _time_left(deadline)
        _check_requestable(current)
        host, _ = host_port(current)
        crawl_delay = await robots.check(current) if robots is not None else 0.0
        interval = max(
            settings.fetch_host_interval, min(crawl_delay, settings.fetch_max_crawl_delay)
        )
        # A redirect's next hop waits as long as a fetch may: giving up there would spend
        # the hops before it again.
        later_hop = hop > 0
        wait = settings.fetch_max_wait if later_hop else host_wait
        cut = False
        if left is not None and left < wait:  # the deadline comes first: wait up to it
            wait, cut = left, True
        try:
            async with _host_slot(slots, host, interval, wait, behind_others=later_hop) as held:
                _time_left(deadline)
                started = time.monotonic()
                try:
                    async with asyncio.timeout(budget):
                        result = await _request(
                            current,
                            url,
                            client,
                            settings,
                            slots=slots,
                            validators=validators,
                            on_response=held.release if held is not None else None,
                        )
                except TimeoutError as exc:
                    # A limit like the size caps: asking a drip-feeding server again only
                    # spends another deadline.
                    raise PermanentError(
                        f"page took longer than {settings.fetch_total_timeout:g} s to download"
                    ) from exc
        except HostBusy as busy:
            if cut:
                raise TimeoutError(
                    "the host's slot would come after the fetch's deadline"
                ) from busy
            raise
        budget -= time.monotonic() - started
        if isinstance(result, str):
            current = result
            continue
        return result
    raise PermanentError(f"more than {settings.fetch_max_redirects} redirects")


async def _request(
    current: str,
    url: str,
    client: httpx.AsyncClient,
    settings: Settings,
    *,
    slots: HostSlots | None,
    validators: Validators | None,
    on_response: Callable[[], Awaitable[None]] | None = None,
) -> FetchedPage | NotModified | str:
    """One hop: the page, `NotModified`, or the next hop's URL.

    `on_response` is called as soon as the response's headers are in (it frees the host).
    """
    headers = validators.headers() if validators is not None else {}
    try:
        async with client.stream("GET", current, headers=headers) as response:
            count_fetch_response(response.status_code)
            if on_response is not None:
                await on_response()
            if response.status_code == 304 and validators is not None:
                return NotModified(url=url, final_url=current)
            if response.has_redirect_location:
                return canonical_url(urljoin(current, response.headers["location"]))
            await _raise_for_status(response, current, settings, slots)
            content_type = _media_type(response.headers.get("content-type", ""))
            if content_type not in HTML_TYPES:
                raise NotAnArticle(f"content type {content_type} is not HTML")
            body = await read_body(
                response, settings.fetch_max_bytes, settings.fetch_max_decoded_bytes
            )
            count_fetched_bytes(len(body))
    except httpx.TimeoutException as exc:
        raise RetryableError(
            f"{current} did not answer in time ({type(exc).__name__})",
            retry_after=redelivery(settings),
        ) from exc
    except httpx.RemoteProtocolError as exc:
        # httpx parses a redirect's Location even when not following it.
        if "location header" in str(exc).lower():
            raise PermanentError(f"redirect to an invalid URL: {exc}") from exc
        raise _Transient(f"network error fetching {current}: {type(exc).__name__} {exc}") from exc
    except httpx.TransportError as exc:
        raise _Transient(f"network error fetching {current}: {type(exc).__name__} {exc}") from exc
    reject_binary(body)
    return FetchedPage(
        url=url,
        final_url=current,
        status_code=response.status_code,
        content_type=content_type,
        html=decode_html(body, response.headers.get("content-type")),
        size_bytes=len(body),
        validators=Validators(response.headers.get("etag"), response.headers.get("last-modified")),
    )


async def _raise_for_status(
    response: httpx.Response, url: str, settings: Settings, slots: HostSlots | None
) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    phrase = f"HTTP {code} {response.reason_phrase}".strip()
    if code in (429, 503):
        delay = parse_retry_after(
            response.headers.get("retry-after"), settings.fetch_retry_after_max
        )
        if delay is not None:
            if slots is not None:
                await slots.defer(host_port(url)[0], delay)
            raise _Transient(f"{phrase}; the server asked to wait {delay:g} s", retry_after=delay)
    if code == 429 or code >= 500:
        raise _Transient(phrase)
    raise PermanentError(phrase)


@asynccontextmanager
async def _host_slot(
    slots: HostSlots | None, host: str, interval: float, max_wait: float, *, behind_others: bool
) -> AsyncIterator[HeldSlot | None]:
    if slots is None:
        yield None
        return
    async with slots.slot(host, interval, max_wait, behind_others=behind_others) as held:
        yield held


def _check_requestable(url: str) -> None:
    """`PermanentError` for a URL the HTTP client would refuse (e.g. `0177.0.0.1`)."""
    try:
        httpx.URL(url).host  # noqa: B018 - decoding the host is the check
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise PermanentError(f"URL cannot be requested: {exc}") from exc


def _media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower() or "text/html"
