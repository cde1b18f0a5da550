"""services.extract.quotes: quotations and their speakers, in the forms news writes them."""

from __future__ import annotations

import pytest

from services.extract.entities import recognise_entities
from services.extract.quotes import find_quotes

pytestmark = pytest.mark.unit


def _speakers(text: str) -> list[tuple[str, str | None]]:
    return [(q.text, q.speaker) for q in find_quotes(text, recognise_entities(text))]


def test_said_after_a_named_speaker_and_a_pronoun_after_him() -> None:
    text = (
        "Russian Foreign Minister Sergey Lavrov met reporters in Moscow on Monday.\n"
        '"We had a very good conversation with our partners," Lavrov said.\n'
        "Lavrov then spoke about the summit with Donald Trump in detail.\n"
        '"The summit will take place in June," he said.'
    )
    assert _speakers(text) == [
        ("We had a very good conversation with our partners", "Sergey Lavrov"),
        ("The summit will take place in June", "Sergey Lavrov"),
    ]


def test_speaker_then_colon() -> None:
    text = (
        "Dmitry Peskov said on Monday that no meeting was planned. He added: "
        '"We have seen a readiness to solve difficult problems through dialogue."'
    )
    assert _speakers(text) == [
        ("We have seen a readiness to solve difficult problems through dialogue.", "Dmitry Peskov")
    ]


def test_role_noun_names_the_person_the_article_gave_that_role() -> None:
    text = (
        "Kremlin spokesman Dmitry Peskov spoke to journalists in Moscow about Vladimir Putin.\n"
        '"There is no information on their meeting yet," the Kremlin spokesman said.'
    )
    assert _speakers(text) == [("There is no information on their meeting yet", "Dmitry Peskov")]


def test_inverted_attribution_and_continued_quote() -> None:
    text = (
        "Dmitry Peskov and Vladimir Putin were in Sochi on Friday.\n"
        '"The talks went well for both sides," said Peskov. "We will meet again next month."'
    )
    assert _speakers(text) == [
        ("The talks went well for both sides", "Dmitry Peskov"),
        ("We will meet again next month.", "Dmitry Peskov"),
    ]


def test_short_scare_quotes_are_not_quotations() -> None:
    text = 'Dmitry Peskov said the talks were "quite likely" and called it a "good conversation".'
    assert _speakers(text) == []


def test_an_unattributed_quote_after_other_text_has_no_speaker() -> None:
    text = (
        "The weather in Moscow was cold on Monday.\n\n\n"
        '"Nobody could have predicted this outcome at all."'
    )
    assert _speakers(text) == [("Nobody could have predicted this outcome at all.", None)]


def test_the_statement_is_whoever_issued_it_earlier() -> None:
    text = (
        "In a statement after the call, the Kremlin said the two leaders spoke for an hour.\n"
        "They discussed Syria and Ukraine, officials in Moscow said.\n"
        '"The sides agreed to build up partner cooperation," the statement said.'
    )
    assert _speakers(text) == [("The sides agreed to build up partner cooperation", "Kremlin")]


def test_recalled_words_belong_to_whoever_first_said_them() -> None:
    text = (
        "Kremlin spokesman Dmitry Peskov spoke to reporters in Moscow on Monday.\n"
        "He recalled the words of Russian President Vladimir Putin that no country can fight "
        'terrorism alone and that it is "the most terrible challenge of the century."'
    )
    assert _speakers(text) == [("the most terrible challenge of the century.", "Vladimir Putin")]


@pytest.mark.parametrize(
    ("text", "speaker"),
    [
        (
            "German Foreign Minister Annalena Baerbock spoke in Berlin on Tuesday. She repeated "
            "Chancellor Olaf Scholz's words that Europe faces "
            '"a turning point in its history."',
            "Olaf Scholz",
        ),
        (
            "Reuters cited Kremlin spokesman Dmitry Peskov as saying "
            '"there are no plans for a meeting yet."',
            "Dmitry Peskov",
        ),
    ],
)
def test_reported_words_in_other_frames(text: str, speaker: str) -> None:
    assert [found for _, found in _speakers(text)] == [speaker]


def test_a_speech_verb_after_the_reported_words_keeps_its_speaker() -> None:
    text = (
        "Recalling the words of Vladimir Putin that terrorism is a common threat, "
        'Dmitry Peskov said: "We are ready to work with every country on this."'
    )
    assert _speakers(text) == [
        ("We are ready to work with every country on this.", "Dmitry Peskov")
    ]


def test_words_judged_without_a_that_clause_stay_with_the_judge() -> None:
    text = (
        "Sergei Lavrov met Mike Pompeo in Sochi on Tuesday. Lavrov called the remarks of "
        'Pompeo "absolute fiction and nothing more."'
    )
    assert _speakers(text) == [("absolute fiction and nothing more.", "Sergei Lavrov")]
