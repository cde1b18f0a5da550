"""`newsflow extract FILE`: the extract stage's work on one file, as JSON with offsets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli import main

pytestmark = pytest.mark.unit

PAGES = Path(__file__).parent.parent / "fixtures" / "pages"


def test_text_file_with_a_publication_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "MOSCOW, January 23. /TASS/. Kremlin spokesman Dmitry Peskov told reporters that "
        'Vladimir Putin would call Donald Trump. "A telephone conversation is under '
        'consideration," Peskov said.'
    )
    source = tmp_path / "article.txt"
    source.write_text(text, encoding="utf-8")
    assert main(["extract", str(source), "--published", "2017-01-24"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["dateline"]["date"] == "2017-01-23"
    assert printed["language"] == "en"
    assert printed["quotes"][0]["speaker"] == "Dmitry Peskov"
    for entity in printed["entities"]:
        for mention in entity["mentions"]:
            assert printed["text"][mention["start"] : mention["end"]] == mention["text"]
    assert {"Dmitry Peskov", "Vladimir Putin", "Donald Trump"} <= {
        e["name"] for e in printed["entities"]
    }


def test_html_page_is_cleaned_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(PAGES / "tass-2019-lavrov-rovaniemi.html")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["published"] == "2019-05-06"
    assert printed["dateline"]["place"] == "Rovaniemi"
    # The dateline's offsets point at the wire opening, wherever the page's lead put it.
    start = printed["dateline"]["start"]
    assert printed["text"][start:].startswith("ROVANIEMI /Finland/, May 6. /TASS/.")


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="cannot read"):
        main(["extract", str(tmp_path / "missing.txt")])
