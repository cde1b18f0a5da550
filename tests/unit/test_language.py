"""services.extract.language, and what analyse does with a text that is not English."""

from __future__ import annotations

import pytest

from services.extract import analyse
from services.extract.language import detect_language

pytestmark = pytest.mark.unit

GERMAN = (
    "Der russische Außenminister Sergej Lawrow hat am Montag in Rovaniemi gesagt, dass die "
    "Präsidenten sich treffen werden, wenn sich eine Gelegenheit bietet. Das Gespräch mit "
    "seinem amerikanischen Kollegen sei konstruktiv gewesen und auch die Frage der "
    "strategischen Stabilität wurde bei dem Treffen besprochen."
)
FRENCH = (
    "Le ministre russe des Affaires étrangères a déclaré lundi que les présidents se "
    "rencontreront dès que possible et que la conversation avec son homologue a été "
    "constructive pour les deux pays."
)
ENGLISH = (
    "Russian Foreign Minister Sergey Lavrov said on Monday that the presidents will meet "
    "when they have an opportunity, and that the talks with his counterpart were constructive."
)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (ENGLISH, "en"),
        (GERMAN, "de"),
        (FRENCH, "fr"),
        ("Министр иностранных дел России Сергей Лавров заявил в понедельник", "ru"),
    ],
)
def test_language_of_the_text(text: str, code: str) -> None:
    assert detect_language(text) == code


def test_declared_language_decides_only_a_close_call() -> None:
    assert detect_language(ENGLISH, declared="de") == "en"
    assert detect_language("Lavrov Pompeo Rovaniemi", declared="en-US") == "en"
    assert detect_language("12345 !!!") is None


def test_other_languages_are_marked_and_not_run_through_english_ner() -> None:
    found = analyse("Lawrow und Pompeo", GERMAN, published="2019-05-06")
    assert found.language == "de"
    assert found.entities == []
    assert found.quotes == []
    assert found.summary is not None
    assert found.summary.startswith("Der russische Außenminister")
