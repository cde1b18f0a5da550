"""services.extract.dateline: wire openings, and a year taken only from the page's date."""

from __future__ import annotations

import pytest

from services.extract.dateline import find_dateline

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("opening", "published", "expected"),
    [
        (
            "ROVANIEMI /Finland/, May 6. /TASS/. Russian Foreign Minister",
            "2019-05-06",
            ("Rovaniemi", "Finland", "2019-05-06", "TASS"),
        ),
        (
            "MOSCOW, January 23. /TASS/. A call",
            "2017-01-23",
            ("Moscow", None, "2017-01-23", "TASS"),
        ),
        ("MOSCOW (Reuters) - Russia said", "2020-02-02", ("Moscow", None, None, "Reuters")),
        ("WASHINGTON (AP) — The president", None, ("Washington", None, None, "AP")),
        (
            "BEIJING, May 6 (Xinhua) -- China said",
            "2019-05-07",
            ("Beijing", None, "2019-05-06", "Xinhua"),
        ),
        ("PARIS, Jan. 3 (AFP) - France", "2021-01-04", ("Paris", None, "2021-01-03", "AFP")),
        (
            "NEW YORK, Jan 3 (Reuters) - Stocks",
            "2021-01-03",
            ("New York", None, "2021-01-03", "Reuters"),
        ),
        ("May 7, 2019 (EIRNS)—Following up", None, (None, None, "2019-05-07", "EIRNS")),
        ("WASHINGTON — The Senate voted", None, ("Washington", None, None, None)),
    ],
)
def test_wire_openings(
    opening: str, published: str | None, expected: tuple[str | None, ...]
) -> None:
    found = find_dateline(opening, published)
    assert found is not None
    assert (found.place, found.region, found.date, found.agency) == expected
    assert found.start == 0
    assert opening[found.end :].strip()[0].isalpha()


def test_year_comes_from_the_publication_date_across_new_year() -> None:
    found = find_dateline("PARIS, Dec. 31 (AFP) - France", "2020-01-02")
    assert found is not None
    assert found.date == "2019-12-31"


def test_without_a_publication_date_a_yearless_date_stays_unknown() -> None:
    found = find_dateline("MOSCOW, January 23. /TASS/. A call", None)
    assert found is not None
    assert found.date is None
    assert found.place == "Moscow"


def test_a_dateline_after_the_title_lines_has_offsets_into_the_text() -> None:
    text = "Kremlin says talks possible\nNo plans yet\nMOSCOW, January 23. /TASS/. A call"
    found = find_dateline(text, "2017-01-23")
    assert found is not None
    assert text[found.start : found.end] == "MOSCOW, January 23. /TASS/."


@pytest.mark.parametrize(
    "opening",
    [
        "The Russian Foreign Minister, Sergei Lavrov, met Pompeo.",
        "Russia: Putin, Trump could meet before July",
        "NATO. It is an alliance.",
        "",
    ],
)
def test_ordinary_openings_are_not_datelines(opening: str) -> None:
    assert find_dateline(opening, "2019-05-06") is None
