"""services.fetch.fetcher: Retry-After parsing and jittered backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from services.fetch.fetcher import backoff, parse_retry_after

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("header", "expected"),
    [("0", 0.0), ("7", 7.0), (" 30 ", 30.0), ("86400", 600.0), (None, None), ("", None)],
)
def test_delta_seconds_are_capped(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, cap=600) == expected


def test_http_date_becomes_seconds_from_now() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    delay = parse_retry_after(when, cap=600)
    assert delay is not None
    assert 100 < delay <= 120


def test_past_date_means_now_and_garbage_means_no_advice() -> None:
    assert parse_retry_after("Mon, 04 Mar 2019 10:00:00 GMT", cap=600) == 0.0
    assert parse_retry_after("soon, please", cap=600) is None
    assert parse_retry_after("-5", cap=600) is None


def test_backoff_is_jittered_below_its_exponential_bound_and_cap() -> None:
    for attempt in range(6):
        samples = [backoff(attempt, base=1.0, cap=10.0) for _ in range(200)]
        bound = min(10.0, 2.0**attempt)
        assert all(0 <= s <= bound for s in samples)
        assert len(set(samples)) > 100  # jittered, not a fixed schedule
