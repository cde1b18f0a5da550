"""services.extract.aliases: one key for the spellings of one entity."""

from __future__ import annotations

import pytest

from services.extract.aliases import alias_key, strip_titles
from shared.schemas import EntityType

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Sergei Lavrov", "Sergey Lavrov"),
        ("Mike Pompeo", "Michael Pompeo"),
        ("Dmitri Peskov", "Dmitry Peskov"),
        ("Alexei Navalny", "Aleksey Navalny"),
        ("Vladimir Putin", "VLADIMIR PUTIN"),
        ("Donald J. Trump", "Donald Trump"),
    ],
)
def test_person_spellings_share_a_key(a: str, b: str) -> None:
    assert alias_key(a, EntityType.PERSON) == alias_key(b, EntityType.PERSON)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Donald Trump", "Melania Trump"),
        ("Sergey Lavrov", "Sergey Ryabkov"),
        ("George H.W. Bush", "George W. Bush"),
    ],
)
def test_different_people_keep_different_keys(a: str, b: str) -> None:
    assert alias_key(a, EntityType.PERSON) != alias_key(b, EntityType.PERSON)


def test_short_forms_of_places_share_the_full_name_key() -> None:
    keys = {alias_key(name, EntityType.PLACE) for name in ("US", "U.S.", "United States", "USA")}
    assert keys == {"place:united states"}
    assert alias_key("US", EntityType.PERSON) != alias_key("US", EntityType.PLACE)


def test_titles_are_stripped_from_people() -> None:
    assert strip_titles("Russian President Vladimir Putin") == "Vladimir Putin"
    assert strip_titles("Foreign Minister Sergey Lavrov") == "Sergey Lavrov"
    assert strip_titles("President") == "President"
