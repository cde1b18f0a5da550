"""Main text and metadata from a page's HTML, without any broker: `extract_article`.

The page is parsed once. Its metadata (JSON-LD, `<meta>`, byline) is read first, then
trafilatura reads the main text precisely; when that reading is short of a long article, a
broad reading is asked too and the two opinions are combined (services/clean/readings.py,
services/clean/combine.py). Leftover boilerplate is removed, the result is judged article
or not (services/clean/verdict.py), and a lead the page shows above the text but the
readings missed opens it (services/clean/lead.py).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from lxml.html import HtmlElement
from trafilatura.utils import load_html

from services.clean.authors import split_names
from services.clean.boilerplate import remove_boilerplate, strip_placeholders
from services.clean.combine import combine_opinions
from services.clean.lead import with_lead
from services.clean.metadata import Declared, declared_metadata, page_language, page_metadata
from services.clean.readings import BROAD, PRECISE, Readings
from services.clean.verdict import judge
from shared.errors import NotAnArticle
from shared.schemas import Content

MIN_ARTICLE_CHARS = 250
"""Shorter main texts are not articles (the stage reads NEWSFLOW_CLEAN_MIN_CHARS)."""
MAX_HTML_CHARS = 5_000_000
"""Larger pages are refused before parsing (NEWSFLOW_CLEAN_MAX_HTML_CHARS)."""
MAX_DEPTH = 180
"""Pages nesting elements deeper are refused after parsing (NEWSFLOW_CLEAN_MAX_DEPTH)."""
BROAD_BELOW_CHARS = 5000
"""A precise reading this long has found the article: the broad one is not asked.

Measured on the evaluation corpus (benchmarks/extraction.py), asking it only below this
length keeps all but 0.0005 of the combination's F1 and skips a third of the broad readings.
"""

__all__ = [
    "MAX_DEPTH",
    "MAX_HTML_CHARS",
    "MIN_ARTICLE_CHARS",
    "CleanArticle",
    "extract_article",
    "strip_placeholders",
]


@dataclass(frozen=True, slots=True)
class CleanArticle:
    """What the clean stage makes of a page."""

    text: str
    title: str | None
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    modified: str | None = None
    site_name: str | None = None
    language: str | None = None
    canonical_url: str | None = None
    image: str | None = None
    description: str | None = None

    def content(self) -> Content:
        return Content(
            title=self.title,
            text=self.text,
            authors=self.authors,
            published=self.published,
            modified=self.modified,
            site_name=self.site_name,
            language=self.language,
            canonical_url=self.canonical_url,
            image=self.image,
        )


def _parse(html: str, max_html_chars: int, max_depth: int) -> HtmlElement:
    if not html.strip():
        raise NotAnArticle("page is empty")
    if len(html) > max_html_chars:
        raise NotAnArticle(
            f"page too large to clean ({len(html)} characters, over {max_html_chars})"
        )
    tree = load_html(html)
    if tree is None:
        raise NotAnArticle("page is not parseable HTML")
    # One path step per level: true when any element sits `max_depth` levels down.
    if tree.xpath("boolean(" + "/*" * (max_depth + 1) + ")"):
        raise NotAnArticle(f"page nests elements deeper than {max_depth} levels")
    return tree


def extract_article(
    html: str,
    url: str | None = None,
    *,
    min_chars: int = MIN_ARTICLE_CHARS,
    max_html_chars: int = MAX_HTML_CHARS,
    max_depth: int = MAX_DEPTH,
) -> CleanArticle:
    """Extract the article in `html`. Raises `NotAnArticle` with the reason when there is none."""
    tree = _parse(html, max_html_chars, max_depth)
    declared: Declared = declared_metadata(tree)
    found = page_metadata(tree, url, declared)
    readings = Readings(tree, url)  # prunes the tree: the metadata is read before
    text = readings.read(PRECISE)
    if len(text) < BROAD_BELOW_CHARS:
        # The broad reading without its fallback extractors: they rarely add to it.
        text = combine_opinions(text, readings.read(BROAD))
    text = remove_boilerplate(text)
    if len(text) < min_chars and declared.article_body:
        # The publisher's own copy of the body, when the markup hides it from both opinions.
        text = remove_boilerplate(declared.article_body)
    if not text:
        raise NotAnArticle("no main text found")
    # Composed characters, as readers type them: "é" is one character, not "e" and an accent.
    text = unicodedata.normalize("NFC", text)
    title = unicodedata.normalize("NFC", (found.title or "").strip()) or None
    judge(text, title, declared, min_chars=min_chars, page_type=found.pagetype)
    text = with_lead(text, found.description, title, tree)
    return CleanArticle(
        text=text,
        title=title,
        authors=split_names(found.author),
        published=found.date or declared.published,
        modified=declared.modified,
        site_name=found.sitename or None,
        language=page_language(declared, text),
        canonical_url=found.url or url or None,
        image=found.image or None,
        description=found.description or None,
    )
