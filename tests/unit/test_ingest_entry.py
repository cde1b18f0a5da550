"""services.fetch.worker.parse_ingest_entry: the API's event or a plain `XADD ... url URL`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.fetch.worker import parse_ingest_entry
from shared.errors import PermanentError
from shared.schemas import UrlSubmitted
from shared.urls import InvalidUrl, article_id

pytestmark = pytest.mark.unit


def test_plain_entry_gets_canonical_url_and_its_id() -> None:
    before = datetime.now(UTC)
    event = parse_ingest_entry({"url": "HTTP://Example.com:80/a#x"})
    assert isinstance(event, UrlSubmitted)
    assert event.url == "http://example.com/a"
    assert event.article_id == article_id("http://example.com/a")
    assert event.force is False
    assert before <= event.submitted_at <= datetime.now(UTC)


def test_spellings_of_one_url_get_one_id() -> None:
    first = parse_ingest_entry({"url": "http://example.com/a?utm_source=x"})
    second = parse_ingest_entry({"url": "http://EXAMPLE.com/a"})
    assert first.article_id == second.article_id


@pytest.mark.parametrize(
    ("force", "expected"),
    [("1", True), ("true", True), ("True", True), ("yes", True), ("0", False), ("no", False)],
)
def test_plain_entry_force_flag(force: str, expected: bool) -> None:
    assert parse_ingest_entry({"url": "http://example.com/", "force": force}).force is expected


@pytest.mark.parametrize("body", [{}, {"link": "http://example.com/"}, {"url": None}, {"url": 5}])
def test_plain_entry_without_url_names_the_field(body: dict[str, Any]) -> None:
    with pytest.raises(PermanentError) as excinfo:
        parse_ingest_entry(body)
    assert "`url`" in excinfo.value.reason


def test_plain_entry_with_invalid_url_is_permanent() -> None:
    with pytest.raises(InvalidUrl, match="scheme must be http or https"):
        parse_ingest_entry({"url": "ftp://example.com/file"})


def test_api_entry_validates_as_url_submitted() -> None:
    body = {
        "article_id": "0123456789abcdef0123",
        "url": "https://example.com/a",
        "force": True,
        "submitted_at": "2019-05-06T15:55:00Z",
        "schema_version": 1,
    }
    event = parse_ingest_entry(body)
    assert event == UrlSubmitted(
        article_id="0123456789abcdef0123",
        url="https://example.com/a",
        force=True,
        submitted_at=datetime(2019, 5, 6, 15, 55, tzinfo=UTC),
    )


def test_api_entry_is_validated_strictly() -> None:
    body = {
        "article_id": "0123456789abcdef0123",
        "url": "https://example.com/a",
        "submitted_at": "2019-05-06T15:55:00Z",
        "schema_version": 2,
    }
    with pytest.raises(ValidationError, match="schema_version"):
        parse_ingest_entry(body)


@pytest.mark.parametrize(
    "body", ["http://example.com/", b"url http://example.com/", ["http://example.com/"], None, 7]
)
def test_entry_that_is_not_a_mapping_is_permanent(body: object) -> None:
    with pytest.raises(PermanentError, match="ingest entry must have fields"):
        parse_ingest_entry(body)
