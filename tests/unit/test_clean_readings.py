"""services.clean.readings: one pruning shared by both readings, the text trafilatura's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trafilatura
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from services.clean.readings import BROAD, PRECISE, Readings

pytestmark = pytest.mark.unit

PAGES = sorted((Path(__file__).parent.parent / "fixtures" / "pages").glob("*.html"))

_FORUM = """<html><head><script type="application/ld+json">
{"@context": "https://schema.org", "@type": "DiscussionForumPosting", "headline": "Pruning"}
</script></head><body><h1>When to prune apple trees</h1>
<div class="comments"><div class="comment"><p>Late winter, before the buds open, is the time
most orchards prune: the wounds heal quickly once the sap rises in spring.</p></div>
<div class="comment"><p>We prune ours in February and have never had trouble with canker,
though the old trees get a lighter cut than the young ones every second year.</p></div>
</div></body></html>"""


def _tree(html: str) -> HtmlElement:
    tree = load_html(html)
    assert tree is not None
    return tree


def _bare(html: str, **options: Any) -> str:
    document = trafilatura.bare_extraction(
        _tree(html), include_comments=False, include_tables=True, **options
    )
    return str(getattr(document, "text", None) or "")


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.stem)
def test_both_readings_are_trafilaturas_own(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    readings = Readings(_tree(html), None)
    precise, broad = readings.read(PRECISE), readings.read(BROAD)
    assert precise
    assert precise == _bare(html, favor_precision=True)
    assert broad == _bare(html, favor_recall=True, fast=True)


def test_a_forum_thread_keeps_its_posts_as_trafilatura_does() -> None:
    readings = Readings(_tree(_FORUM), None)
    assert readings.read(BROAD) == _bare(_FORUM, favor_recall=True, fast=True)
    assert readings.read(PRECISE) == _bare(_FORUM, favor_precision=True)


def test_the_page_is_pruned_once_in_place_before_the_readings() -> None:
    html = (
        PAGES[0]
        .read_text(encoding="utf-8")
        .replace("</body>", '<div class="comments"><p>First!</p></div></body>')
    )
    tree = _tree(html)
    assert tree.xpath('//div[@class="comments"]')
    Readings(tree, None)
    assert not tree.xpath('//div[@class="comments"]')
