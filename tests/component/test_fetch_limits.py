"""fetch_page against the hostile server: bounded work, content types, charsets, retries.

Real HTTP on 127.0.0.1 and a real Valkey (robots cache, host slots); nothing is faked.
"""

from __future__ import annotations

import time

import pytest

from services.fetch.fetcher import FetchedPage
from shared.errors import NotAnArticle, PermanentError, RetryableError
from tests.component.fetch_helpers import Fetch
from tests.hostile import (
    BOMB_ENCODINGS,
    CHINESE,
    JAPANESE,
    RUSSIAN,
    HostileServer,
)

pytestmark = pytest.mark.component


async def _page(fetch: Fetch, url: str) -> FetchedPage:
    page = await fetch(url)
    assert isinstance(page, FetchedPage)
    return page


@pytest.mark.parametrize("encoding", BOMB_ENCODINGS)
async def test_compression_bombs_stop_at_the_decoded_cap(
    fetch: Fetch, hostile: HostileServer, encoding: str
) -> None:
    with pytest.raises(PermanentError, match="body over 2 MB once decoded"):
        await fetch(hostile.url(f"bomb?encoding={encoding}"))


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd", "zstd, gzip"])
async def test_compressed_pages_are_decoded(
    fetch: Fetch, hostile: HostileServer, encoding: str
) -> None:
    page = await _page(fetch, hostile.url(f"gzipped?encoding={encoding}"))
    assert "Lavrov confident Putin and Trump" in page.html
    assert hostile.state.requests[-1].headers["Accept-Encoding"] == "gzip, deflate, br, zstd"


async def test_unknown_content_encoding_is_refused_by_name(
    fetch: Fetch, hostile: HostileServer
) -> None:
    with pytest.raises(PermanentError, match="content encoding 'bzip2' is not supported"):
        await fetch(hostile.url("unknown-coding"))


@pytest.mark.parametrize("path", ["big?size=1100000", "endless"])
async def test_bodies_over_the_received_cap_fail(
    fetch: Fetch, hostile: HostileServer, path: str
) -> None:
    with pytest.raises(PermanentError, match="body over 1 MB"):
        await fetch(hostile.url(path))


async def test_a_slow_drip_ends_at_the_whole_response_deadline(
    fetch: Fetch, hostile: HostileServer
) -> None:
    """Each byte comes well within the read timeout: only the deadline can stop it."""
    started = time.monotonic()
    with pytest.raises(PermanentError, match="page took longer than 2 s to download"):
        await fetch(hostile.url("slow"))
    assert time.monotonic() - started < 10  # generous: the machine is shared
    assert hostile.state.count("/slow") == 1


async def test_a_silent_server_is_left_for_a_later_delivery(
    fetch: Fetch, hostile: HostileServer
) -> None:
    with pytest.raises(RetryableError, match="did not answer in time") as excinfo:
        await fetch(hostile.url("stall"))
    assert hostile.state.count("/stall") == 1  # not asked again within this delivery
    assert excinfo.value.retry_after is not None
    assert 0 < excinfo.value.retry_after <= fetch.settings.fetch_max_wait


async def test_redirect_loop_is_cut_at_the_limit(fetch: Fetch, hostile: HostileServer) -> None:
    with pytest.raises(PermanentError, match="more than 5 redirects"):
        await fetch(hostile.url("loop/a"))
    assert hostile.state.count("/loop/a") + hostile.state.count("/loop/b") == 6


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "gopher://127.0.0.1:70/x", "ftp://example.com/"]
)
async def test_redirect_to_another_scheme_is_refused(
    fetch: Fetch, hostile: HostileServer, target: str
) -> None:
    with pytest.raises(PermanentError, match="scheme must be http or https"):
        await fetch(hostile.url(f"redirect?to={target}"))


async def test_binary_served_as_html_is_skipped(fetch: Fetch, hostile: HostileServer) -> None:
    with pytest.raises(NotAnArticle, match="binary data served as HTML"):
        await fetch(hostile.url("binary"))


async def test_other_content_types_are_skipped_with_the_type(
    fetch: Fetch, hostile: HostileServer
) -> None:
    with pytest.raises(NotAnArticle, match="content type application/pdf is not HTML"):
        await fetch(hostile.url("pdf"))


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("russian-wrong-header", RUSSIAN),
        ("russian-koi8r-meta", RUSSIAN),
        ("japanese-undeclared", JAPANESE),
        ("japanese-euc-header", JAPANESE),
        ("chinese-gb2312-meta", CHINESE),
        ("chinese-undeclared", CHINESE),
    ],
)
async def test_charsets_come_out_as_the_right_text(
    fetch: Fetch, hostile: HostileServer, name: str, text: str
) -> None:
    page = await _page(fetch, hostile.url(f"charset/{name}"))
    assert text in page.html


async def test_429_retry_after_is_honoured_then_succeeds(
    fetch: Fetch, hostile: HostileServer
) -> None:
    page = await _page(fetch, hostile.url("busy?n=1&after=1"))
    assert "Lavrov" in page.html
    first, second = (r.at for r in hostile.state.requests if r.path.startswith("/busy"))
    assert second - first >= 0.95


async def test_503_retry_after_is_honoured(fetch: Fetch, hostile: HostileServer) -> None:
    await _page(fetch, hostile.url("busy?n=1&after=1&code=503"))
    first, second = (r.at for r in hostile.state.requests if r.path.startswith("/busy"))
    assert second - first >= 0.95


async def test_retry_after_beyond_the_longest_wait_is_left_to_redelivery(
    fetch: Fetch, hostile: HostileServer
) -> None:
    with pytest.raises(RetryableError, match="asked to wait 120 s") as excinfo:
        await fetch(hostile.url("busy?n=5&after=120"))
    assert excinfo.value.retry_after == 120
    assert hostile.state.count("/busy?n=5&after=120") == 1
    # Every replica now leaves the host alone.
    assert 100 < await fetch.slots.next_free("127.0.0.1") <= 120


async def test_5xx_that_recovers_is_retried_with_backoff(
    fetch: Fetch, hostile: HostileServer
) -> None:
    page = await _page(fetch, hostile.url("flaky?n=2"))
    assert "Lavrov" in page.html
    assert hostile.state.count("/flaky?n=2") == 3


async def test_retries_are_bounded(fetch: Fetch, hostile: HostileServer) -> None:
    with pytest.raises(RetryableError, match="HTTP 500"):
        await fetch(hostile.url("flaky?n=10"))
    assert hostile.state.count("/flaky?n=10") == 3  # the first try and fetch_retries=2


async def test_no_retry_starts_or_waits_past_the_deadline(
    fetch: Fetch, hostile: HostileServer
) -> None:
    """The deadline holds without any cancellation, as when a caller's timeout was lost
    inside a library: the second attempt, due at 2 s, goes; the third would wait for the
    host until 4 s, past the deadline, so the fetch ends at once instead. Unbounded, it
    would ask three times and end on the 429 at 4 s."""
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="after the fetch's deadline"):
        await fetch(hostile.url("busy?after=2&n=100"), deadline=started + 3.0)
    assert hostile.state.count("/busy?after=2&n=100") == 2
    assert time.monotonic() - started < 3.0


async def test_dropped_connection_is_retried(fetch: Fetch, hostile: HostileServer) -> None:
    page = await _page(fetch, hostile.url("reset?n=1"))
    assert "Lavrov" in page.html
    assert hostile.state.count("/reset?n=1") == 2


async def test_4xx_is_permanent_and_not_retried(fetch: Fetch, hostile: HostileServer) -> None:
    with pytest.raises(PermanentError, match="HTTP 404"):
        await fetch(hostile.url("nothing-here"))
    assert hostile.state.count("/nothing-here") == 1
