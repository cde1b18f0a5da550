"""The article's lead (standfirst), when the readings miss it.

News pages often set the lead apart from the body, in a header or teaser block that
extractors take for page furniture. Such a page usually repeats its lead as its description
(`og:description`, `<meta name="description">`). When the description is a sentence or more,
is shown in the page between the headline and the text found, and is not in that text, it
is the lead and opens the article. A description shown only after the text (a site-wide
blurb in the footer), above the headline (the site's tagline) or nowhere (a summary for
search engines) is left out.
"""

from __future__ import annotations

import re
import unicodedata

from lxml import etree
from lxml.html import HtmlElement

MIN_LEAD_CHARS = 60
"""A shorter description is a tagline, not a lead."""

_SPACE = re.compile(r"\s+")


def _plain(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _shown_text(tree: HtmlElement) -> str:
    # Scripts (JSON-LD repeats the description) and styles are not shown.
    etree.strip_elements(tree, "script", "style", "noscript", "template", with_tail=False)
    body = tree.find("body")
    return _plain(etree.tostring(body if body is not None else tree, method="text", encoding=str))


def with_lead(text: str, description: str | None, title: str | None, tree: HtmlElement) -> str:
    """`text` opened by the page's lead (after its headline), when the page shows one the
    text lacks. Strips scripts and styles from `tree`: use it last."""
    lead = _plain(description or "")
    if len(lead) < MIN_LEAD_CHARS or lead in _plain(text):
        return text
    lines = text.splitlines()
    opening = next((_plain(line) for line in lines if len(line) >= MIN_LEAD_CHARS), None)
    if opening is None:
        return text
    shown = _shown_text(tree)
    at = shown.find(lead)
    if not 0 <= at < shown.find(opening[:MIN_LEAD_CHARS]):
        return text
    # A site's tagline above the headline is no lead; a standfirst follows the headline.
    if title and at < shown.find(_plain(title)):
        return text
    after = 1 if title and _plain(lines[0]) == _plain(title) else 0
    return "\n".join([*lines[:after], lead, *lines[after:]])
