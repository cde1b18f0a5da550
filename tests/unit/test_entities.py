"""services.extract.entities: people, organisations and places under one canonical name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.clean.extraction import extract_article
from services.extract.entities import load_model, recognise_entities
from shared.schemas import Entity, EntityType

pytestmark = pytest.mark.unit

PAGES = Path(__file__).parent.parent / "fixtures" / "pages"

# page -> canonical names of Putin and Trump. The USA Today article never gives Trump's
# first name in its body (only in a video caption, which is boilerplate).
EXPECTED_NAMES = {
    "tass-2019-lavrov-rovaniemi.html": ("Vladimir Putin", "Donald Trump"),
    "eirns-2019-lavrov-pompeo-finland.html": ("Vladimir Putin", "Donald Trump"),
    "7dnews-2019-pompeo-lavrov-sochi.html": ("Vladimir Putin", "Donald Trump"),
    "usatoday-2017-putin-trump-call.html": ("Vladimir Putin", "Trump"),
    "tass-2017-peskov-phone-call.html": ("Vladimir Putin", "Donald Trump"),
}
# Every spelling of a person's name the pages use, full and bare.
PERSON_NAMES = frozenset(
    {
        "Vladimir Putin",
        "Putin",
        "Donald Trump",
        "Trump",
        "Sergey Lavrov",
        "Sergei Lavrov",
        "Lavrov",
        "Mike Pompeo",
        "Michael Pompeo",
        "Pompeo",
        "Dmitry Peskov",
        "Peskov",
    }
)


@pytest.fixture(scope="module")
def cleaned() -> dict[str, str]:
    return {
        name: extract_article((PAGES / name).read_text(encoding="utf-8")).text
        for name in EXPECTED_NAMES
    }


@pytest.fixture(scope="module")
def entities(cleaned: dict[str, str]) -> dict[str, list[Entity]]:
    nlp = load_model()
    return {name: recognise_entities(text, nlp) for name, text in cleaned.items()}


def _by_name(found: list[Entity]) -> dict[str, Entity]:
    names = [entity.name for entity in found]
    return {entity.name: entity for entity in found if names.count(entity.name) == 1}


def test_model_is_loaded_once_with_only_the_pipes_used() -> None:
    nlp = load_model()
    assert load_model() is nlp
    assert nlp.pipe_names == ["tok2vec", "tagger", "ner"]


@pytest.mark.parametrize("page", EXPECTED_NAMES)
def test_putin_and_trump_are_people(entities: dict[str, list[Entity]], page: str) -> None:
    found = entities[page]
    for name in EXPECTED_NAMES[page]:
        matching = [entity for entity in found if entity.name == name]
        assert [entity.type for entity in matching] == [EntityType.PERSON], name


def test_usatoday_body_never_names_trump_in_full(cleaned: dict[str, str]) -> None:
    # Guards the table above: "Trump" is the fullest form that article gives.
    assert "Donald Trump" not in cleaned["usatoday-2017-putin-trump-call.html"]


@pytest.mark.parametrize("page", EXPECTED_NAMES)
def test_no_person_is_typed_organization_or_place(
    entities: dict[str, list[Entity]], page: str
) -> None:
    people = [entity for entity in entities[page] if entity.name in PERSON_NAMES]
    assert len(people) >= 3
    for entity in people:
        assert entity.type is EntityType.PERSON, entity


@pytest.mark.parametrize("page", EXPECTED_NAMES)
@pytest.mark.parametrize("index", [0, 1])
def test_bare_surnames_merge_into_the_full_name(
    cleaned: dict[str, str], entities: dict[str, list[Entity]], page: str, index: int
) -> None:
    full_name = EXPECTED_NAMES[page][index]
    surname = full_name.split()[-1]
    entity = _by_name(entities[page])[full_name]
    mention_texts = {mention.text for mention in entity.mentions}
    bare = re.findall(rf"(?<!{full_name.split()[0]} )\b{surname}\b", cleaned[page])
    if bare and full_name != surname:
        assert surname in mention_texts
        assert full_name in mention_texts
        # ...and there is no second entity under the bare surname.
        assert surname not in {e.name for e in entities[page]}
    assert mention_texts <= {full_name, surname}


@pytest.mark.parametrize(
    ("page", "full_name", "at_least"),
    [
        ("tass-2017-peskov-phone-call.html", "Donald Trump", 5),
        ("tass-2017-peskov-phone-call.html", "Dmitry Peskov", 5),
        ("usatoday-2017-putin-trump-call.html", "Vladimir Putin", 5),
        ("eirns-2019-lavrov-pompeo-finland.html", "Mike Pompeo", 5),
        ("7dnews-2019-pompeo-lavrov-sochi.html", "Sergei Lavrov", 4),
    ],
)
def test_frequent_people_collect_their_mentions(
    entities: dict[str, list[Entity]], page: str, full_name: str, at_least: int
) -> None:
    entity = _by_name(entities[page])[full_name]
    assert entity.type is EntityType.PERSON
    assert len(entity.mentions) >= at_least


@pytest.mark.parametrize("page", EXPECTED_NAMES)
def test_mention_offsets_slice_the_text(
    cleaned: dict[str, str], entities: dict[str, list[Entity]], page: str
) -> None:
    text = cleaned[page]
    for entity in entities[page]:
        starts = [mention.start for mention in entity.mentions]
        assert starts == sorted(set(starts)), entity.name
        for mention in entity.mentions:
            assert 0 <= mention.start < mention.end <= len(text)
            assert text[mention.start : mention.end] == mention.text
            # Mentions are trimmed: no possessive, no leading article, no stray space.
            assert mention.text == mention.text.strip()
            assert not re.search(r"[’']s$", mention.text), mention
            assert not mention.text.startswith(("the ", "The ")), mention


@pytest.mark.parametrize("page", EXPECTED_NAMES)
def test_salience_is_sorted_and_in_range(entities: dict[str, list[Entity]], page: str) -> None:
    saliences = [entity.salience for entity in entities[page]]
    assert len(saliences) >= 5
    assert saliences == sorted(saliences, reverse=True)
    assert all(0 < value <= 1 for value in saliences)


def test_possessive_is_cut_from_the_mention() -> None:
    text = (
        "Vladimir Putin's spokesman Dmitry Peskov said on Monday that Putin would travel to Sochi."
    )
    found = _by_name(recognise_entities(text))
    putin = found["Vladimir Putin"]
    assert putin.type is EntityType.PERSON
    assert [(m.text, m.start, m.end) for m in putin.mentions] == [
        ("Vladimir Putin", 0, 14),
        ("Putin", 61, 66),
    ]
    assert "Putin's" not in found


def test_people_sharing_a_surname_stay_apart() -> None:
    text = (
        "President Donald Trump met reporters in Washington on Monday. "
        "First lady Melania Trump visited a hospital in Ohio. Trump said the economy was strong."
    )
    people = {e.name for e in recognise_entities(text) if e.type is EntityType.PERSON}
    assert {"Donald Trump", "Melania Trump"} <= people


def test_a_single_word_after_a_personal_title_is_a_person() -> None:
    text = "Secretary Pompeo met Mr. Lavrov in Sochi. Lavrov said Russia is ready for talks."
    types = {e.name: e.type for e in recognise_entities(text)}
    assert types["Pompeo"] is EntityType.PERSON
    assert types["Lavrov"] is EntityType.PERSON
    assert types["Russia"] is EntityType.PLACE


def test_title_case_headline_junk_is_dropped_but_names_the_body_uses_stay() -> None:
    body = (
        "The Russian Foreign Minister, Sergei Lavrov, met the US Secretary of State, Mike "
        "Pompeo, in the Black Sea resort of Sochi on Tuesday. Lavrov said the Kremlin would "
        "react positively to a request by Washington for a meeting between the presidents at "
        "the summit in Osaka, and Pompeo said the talks were useful for both countries."
    )
    text = "Pompeo and Lavrov Meeting Updates Look Promising\n" + body
    found = {e.name: e for e in recognise_entities(text)}
    assert not any("Meeting" in name for name in found)
    # The headline's surnames count as mentions of the people the body names in full.
    assert 0 in {m.start for m in found["Mike Pompeo"].mentions}
    assert text.index("Lavrov") in {m.start for m in found["Sergei Lavrov"].mentions}


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Sanctions followed the illegal annexation of Crimea.", "Crimea"),
        ("Russia annexed Crimea in 2014 and backed separatists in Donbas.", "Crimea"),
        (
            "Armenia and Azerbaijan fought over the annexation of Nagorno-Karabakh.",
            "Nagorno-Karabakh",
        ),
    ],
)
def test_a_name_that_is_annexed_is_a_place(text: str, name: str) -> None:
    types = {e.name: e.type for e in recognise_entities(text)}
    assert types[name] is EntityType.PLACE


def test_a_territory_is_a_place_at_every_mention() -> None:
    text = (
        "Crimea remains the dispute. Sanctions followed the annexation of Crimea, and Crimea "
        "was not discussed at the meeting."
    )
    found = _by_name(recognise_entities(text))
    assert found["Crimea"].type is EntityType.PLACE
    assert len(found["Crimea"].mentions) == 3


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Exxon's acquisition of Mobil closed in 1999.", "Mobil"),
        ("Apple sold its stake to Microsoft.", "Microsoft"),
        ("The merger of Disney and Fox was approved.", "Fox"),
    ],
)
def test_companies_bought_or_sold_stay_organisations(text: str, name: str) -> None:
    types = {e.name: e.type for e in recognise_entities(text)}
    assert types[name] is EntityType.ORGANIZATION
