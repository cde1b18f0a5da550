"""`newsflow clean FILE_OR_URL`: the clean stage's answer for one page, as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PageServer

pytestmark = pytest.mark.component

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "tests" / "fixtures" / "pages" / "tass-2019-lavrov-rovaniemi.html"


def _clean(source: str, **env: str) -> tuple[int, dict[str, Any]]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "clean", source],
        cwd=REPO,
        env={**environment, **env},
        capture_output=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_file_is_cleaned_to_json() -> None:
    code, article = _clean(str(PAGE))
    assert code == 0
    assert article["title"] == "Lavrov confident Putin and Trump will have possibility to meet"
    assert article["published"] == "2019-05-06"
    assert article["modified"] == "2019-05-06"
    assert article["language"] == "en"
    assert article["canonical_url"] == "https://tass.com/politics/1057227"
    assert "Lavrov" in article["text"]
    assert "{{" not in article["text"]


def test_url_is_fetched_and_cleaned(page_server: PageServer) -> None:
    code, article = _clean(page_server.url(PAGE.name), NEWSFLOW_FETCH_ALLOW=page_server.host_port)
    assert code == 0
    assert article["title"] == "Lavrov confident Putin and Trump will have possibility to meet"


def test_page_without_an_article_answers_the_reason(tmp_path: Path) -> None:
    page = tmp_path / "moved.html"
    page.write_text("<html><body><p>This page has moved.</p></body></html>", encoding="utf-8")
    code, answer = _clean(str(page), NEWSFLOW_CLEAN_MIN_CHARS="100")
    assert code == 1
    assert answer == {
        "error": "too little text for an article (20 characters)",
        "kind": "NotAnArticle",
    }
