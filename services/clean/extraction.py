"""Main text and metadata from a page's HTML, without any broker: `extract_article`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import trafilatura

from shared.errors import NotAnArticle
from shared.schemas import Content

# Unrendered template placeholders (Angular, Handlebars, Jinja) leak into scraped text.
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")
MIN_ARTICLE_CHARS = 250
"""Shorter main texts are not articles (the stage reads NEWSFLOW_CLEAN_MIN_CHARS)."""


@dataclass(frozen=True, slots=True)
class CleanArticle:
    """What the clean stage makes of a page."""

    text: str
    title: str | None
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    site_name: str | None = None
    language: str | None = None
    canonical_url: str | None = None
    description: str | None = None

    def content(self) -> Content:
        return Content(
            title=self.title,
            text=self.text,
            authors=self.authors,
            published=self.published,
            site_name=self.site_name,
            language=self.language,
        )


def strip_placeholders(text: str) -> str:
    lines = (_PLACEHOLDER.sub("", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _authors(raw: str | None) -> list[str]:
    if not raw:
        return []
    return [name.strip() for name in raw.split(";") if name.strip()]


def extract_article(
    html: str, url: str | None = None, *, min_chars: int = MIN_ARTICLE_CHARS
) -> CleanArticle:
    """Extract the article in `html`. Raises `NotAnArticle` with the reason when there is none."""
    if not html.strip():
        raise NotAnArticle("page is empty")
    document = trafilatura.bare_extraction(
        html,
        url=url,
        favor_precision=True,
        include_comments=False,
        include_tables=True,
        with_metadata=True,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    if document is None or isinstance(document, dict):
        raise NotAnArticle("no main text found")
    text = strip_placeholders(document.text or "")
    if len(text) < min_chars:
        raise NotAnArticle(f"too little text for an article ({len(text)} characters)")
    return CleanArticle(
        text=text,
        title=(document.title or "").strip() or None,
        authors=_authors(document.author),
        published=document.date or None,
        site_name=document.sitename or None,
        language=document.language or None,
        canonical_url=document.url or None,
        description=document.description or None,
    )
