"""The five sample pages against tests/fixtures/expectations.json, one article at a time.

Cross-article expectations (one canonical name per entity, stories, duplicates) need the
shared Redis state: tests/component/test_extract_linking.py checks them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.clean.extraction import extract_article
from services.extract import Extraction, analyse, load_model
from shared.schemas import EntityType

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXPECTATIONS: dict[str, Any] = json.loads((FIXTURES / "expectations.json").read_text())
PAGES: dict[str, dict[str, Any]] = EXPECTATIONS["pages"]
KINDS = {
    "people": EntityType.PERSON,
    "organizations": EntityType.ORGANIZATION,
    "places": EntityType.PLACE,
}


@pytest.fixture(scope="module")
def analysed() -> dict[str, Extraction]:
    nlp = load_model()
    found = {}
    for page in PAGES:
        article = extract_article((FIXTURES / "pages" / page).read_text(encoding="utf-8"))
        found[page] = analyse(
            article.title, article.text, article.published, article.language, nlp=nlp
        )
    return found


def _expected_entities() -> list[Any]:
    cases = []
    for page, expected in PAGES.items():
        for kind in KINDS:
            for name in expected[kind]:
                cases.append(pytest.param(page, kind, name, id=f"{page}-{name}"))
        for kind, failures in expected.get("known_failures", {}).items():
            for name, reason in failures.items():
                mark = pytest.mark.xfail(reason=reason, strict=True)
                cases.append(pytest.param(page, kind, name, id=f"{page}-{name}", marks=mark))
    return cases


@pytest.mark.parametrize(("page", "kind", "name"), _expected_entities())
def test_expected_entity_is_found_with_its_type(
    analysed: dict[str, Extraction], page: str, kind: str, name: str
) -> None:
    types = {entity.name: entity.type for entity in analysed[page].entities}
    assert types.get(name) is KINDS[kind], sorted(types)


@pytest.mark.parametrize("page", PAGES)
def test_no_junk_spans_or_unmerged_short_forms(analysed: dict[str, Extraction], page: str) -> None:
    names = {entity.name for entity in analysed[page].entities}
    assert not names & set(EXPECTATIONS["not_entities"])


@pytest.mark.parametrize("page", PAGES)
def test_dateline(analysed: dict[str, Extraction], page: str) -> None:
    found = analysed[page].dateline
    expected = PAGES[page]["dateline"]
    if expected is None:
        assert found is None
        return
    assert found is not None
    assert found.model_dump(include={"place", "region", "date", "agency"}) == expected


@pytest.mark.parametrize("page", PAGES)
def test_language_and_lead_summary(analysed: dict[str, Extraction], page: str) -> None:
    found = analysed[page]
    assert found.language == PAGES[page]["language"]
    assert found.summary is not None
    assert found.summary.startswith(PAGES[page]["summary_starts"])


def _expected_quotes() -> list[Any]:
    cases = []
    for page, expected in PAGES.items():
        for quote in expected["quotes"]:
            marks = (
                [pytest.mark.xfail(reason=quote["known_failure"], strict=True)]
                if "known_failure" in quote
                else []
            )
            cases.append(
                pytest.param(
                    page, quote["starts"], quote["speaker"], id=quote["starts"][:30], marks=marks
                )
            )
    return cases


@pytest.mark.parametrize(("page", "starts", "speaker"), _expected_quotes())
def test_quote_and_its_speaker(
    analysed: dict[str, Extraction], page: str, starts: str, speaker: str
) -> None:
    matching = [q for q in analysed[page].quotes if q.text.startswith(starts)]
    assert len(matching) == 1, [q.text[:40] for q in analysed[page].quotes]
    assert matching[0].speaker == speaker


@pytest.mark.parametrize("page", PAGES)
def test_every_listed_quote_is_expected(analysed: dict[str, Extraction], page: str) -> None:
    """No stray quotations: every quote found is one the expectations list."""
    listed = [q["starts"] for q in PAGES[page]["quotes"]]
    for quote in analysed[page].quotes:
        assert any(quote.text.startswith(starts) for starts in listed), quote.text


@pytest.mark.parametrize("page", PAGES)
def test_keywords_are_about_the_subject_not_names(
    analysed: dict[str, Extraction], page: str
) -> None:
    found = analysed[page]
    assert 3 <= len(found.keywords) <= 8
    name_words = {word.lower() for entity in found.entities for word in entity.name.split()} | {
        m.text.lower() for entity in found.entities for m in entity.mentions
    }
    for keyword in found.keywords:
        assert not set(keyword.split()) & name_words, keyword
    assert {"talks", "meeting", "conversation", "telephone conversation", "possibility"} & set(
        found.keywords
    )


@pytest.mark.parametrize("page", PAGES)
def test_offsets_slice_the_text(analysed: dict[str, Extraction], page: str) -> None:
    article = extract_article((FIXTURES / "pages" / page).read_text(encoding="utf-8"))
    found = analysed[page]
    for entity in found.entities:
        for mention in entity.mentions:
            assert article.text[mention.start : mention.end] == mention.text
    for quote in found.quotes:
        assert article.text[quote.start : quote.end].strip(" ,") == quote.text
