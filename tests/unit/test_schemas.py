"""shared.schemas: events are frozen, strict about unknown fields, and versioned."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shared.schemas import (
    ArticleCleaned,
    ArticleExtracted,
    ArticleIndexed,
    Content,
    Entity,
    EntityType,
    Event,
    Mention,
    PageFetched,
    UrlSubmitted,
)

pytestmark = pytest.mark.unit

NOW = datetime(2019, 5, 6, 15, 55, tzinfo=UTC)
URL = "https://tass.com/politics/1057227"
CONTENT: dict[str, Any] = {"title": "Lavrov confident", "text": "Sergey Lavrov said ..."}

# One valid payload per event type.
PAYLOADS: dict[type[Event], dict[str, Any]] = {
    UrlSubmitted: {"article_id": "a1", "url": URL, "submitted_at": NOW},
    PageFetched: {
        "article_id": "a1",
        "url": URL,
        "final_url": URL,
        "status_code": 200,
        "content_type": "text/html",
        "html_key": "newsflow:html:abc",
        "content_hash": "abc",
        "size_bytes": 1234,
        "fetched_at": NOW,
    },
    ArticleCleaned: {"article_id": "a1", "url": URL, "content": CONTENT, "cleaned_at": NOW},
    ArticleExtracted: {
        "article_id": "a1",
        "url": URL,
        "content": CONTENT,
        "entities": [
            {
                "name": "Sergey Lavrov",
                "type": "person",
                "mentions": [{"text": "Sergey Lavrov", "start": 0, "end": 13}],
                "salience": 0.9,
            }
        ],
        "extracted_at": NOW,
    },
    ArticleIndexed: {
        "article_id": "a1",
        "url": URL,
        "title": "Lavrov confident",
        "published": "2019-05-06",
        "indexed_at": NOW,
    },
}
EVENT_TYPES = list(PAYLOADS)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_valid_payload_builds_version_1(event_type: type[Event]) -> None:
    event = event_type.model_validate(PAYLOADS[event_type])
    assert event.article_id == "a1"
    assert event.model_dump()["schema_version"] == 1


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_json_round_trip(event_type: type[Event]) -> None:
    event = event_type.model_validate(PAYLOADS[event_type])
    assert event_type.model_validate_json(event.model_dump_json()) == event


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_events_are_frozen(event_type: type[Event]) -> None:
    event = event_type.model_validate(PAYLOADS[event_type])
    with pytest.raises(ValidationError, match="frozen"):
        setattr(event, "article_id", "other")  # noqa: B010 - mypy knows it is read-only
    with pytest.raises(ValidationError, match="frozen"):
        setattr(event, "url", "https://example.com/")  # noqa: B010
    assert event.article_id == "a1"


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_extra_fields_are_forbidden(event_type: type[Event]) -> None:
    with pytest.raises(ValidationError, match=r"extra_forbidden|Extra inputs"):
        event_type.model_validate({**PAYLOADS[event_type], "surprise": 1})


@pytest.mark.parametrize("event_type", EVENT_TYPES)
@pytest.mark.parametrize("version", [0, 2, None])
def test_unknown_schema_version_is_rejected(event_type: type[Event], version: int | None) -> None:
    with pytest.raises(ValidationError, match="schema_version"):
        event_type.model_validate({**PAYLOADS[event_type], "schema_version": version})


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_explicit_version_1_is_accepted(event_type: type[Event]) -> None:
    event = event_type.model_validate({**PAYLOADS[event_type], "schema_version": 1})
    assert event == event_type.model_validate(PAYLOADS[event_type])


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_missing_article_id_is_rejected(event_type: type[Event]) -> None:
    payload = dict(PAYLOADS[event_type])
    del payload["article_id"]
    with pytest.raises(ValidationError, match="article_id"):
        event_type.model_validate(payload)


@pytest.mark.parametrize(
    ("model", "payload"),
    [
        (Content, CONTENT),
        (Mention, {"text": "Lavrov", "start": 0, "end": 6}),
        (Entity, PAYLOADS[ArticleExtracted]["entities"][0]),
    ],
)
def test_nested_models_are_frozen_and_strict(
    model: type[BaseModel], payload: dict[str, Any]
) -> None:
    instance = model.model_validate(payload)
    field = next(iter(payload))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(instance, field, payload[field])
    with pytest.raises(ValidationError, match=r"extra_forbidden|Extra inputs"):
        model.model_validate({**payload, "surprise": 1})


def test_nested_extra_field_is_forbidden_inside_an_event() -> None:
    payload = {**PAYLOADS[ArticleCleaned], "content": {**CONTENT, "summary": "x"}}
    with pytest.raises(ValidationError, match=r"content\.summary"):
        ArticleCleaned.model_validate(payload)


def test_entity_type_must_be_known() -> None:
    entity = {**PAYLOADS[ArticleExtracted]["entities"][0], "type": "animal"}
    with pytest.raises(ValidationError, match="type"):
        Entity.model_validate(entity)
    assert Entity.model_validate({**entity, "type": "place"}).type is EntityType.PLACE


def test_url_submitted_force_defaults_to_false() -> None:
    assert UrlSubmitted.model_validate(PAYLOADS[UrlSubmitted]).force is False


def test_an_extracted_event_from_before_the_extract_fields_still_parses() -> None:
    from shared.schemas import ArticleExtracted

    event = ArticleExtracted.model_validate(
        {
            "article_id": "a1",
            "url": "https://tass.com/world/1",
            "content": {"title": "Talks", "text": "Lavrov met Pompeo."},
            "entities": [],
            "extracted_at": "2019-05-06T12:00:00+00:00",
        }
    )
    assert event.schema_version == 1
    assert (event.dateline, event.quotes, event.keywords, event.summary) == (None, [], [], None)
    assert (event.language, event.story_id, event.duplicate_of) == (None, None, None)
