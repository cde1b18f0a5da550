"""Whether the text found in a page is an article, and if not, why not.

"Not an article" is an answer, not a failure: the article ends `skipped` with the reason.
Every check here is on short texts or on texts with no prose at all, so a real article
is never skipped for a word it happens to contain.
"""

from __future__ import annotations

import re

from services.clean.metadata import ARTICLE_TYPES as _ARTICLE_TYPES
from services.clean.metadata import Declared
from shared.errors import NotAnArticle

STUB_CHARS = 1500
"""Error pages and paywall teasers are short: longer texts are never judged one."""
TEASER_CHARS = 1000
"""A text of a page marked not free to read is a teaser below this length."""

# The title of an error page names the error; a headline that merely contains "error" does not.
_ERROR_TITLE = re.compile(
    r"^\W*(error\W*)?(404|410|500)\b|^\W*(not found|error|fehler|erreur)\W*$"
    r"|\b(page|seite|página|pagina|strona) (not found|nicht gefunden|no encontrada"
    r"|introuvable|non trovata|nie istnieje)\b|\bpage (does not|doesn't) exist\b",
    re.IGNORECASE,
)
_PAYWALL = re.compile(
    r"\b(subscribe to (continue|read)|to continue reading|continue reading with"
    r"|already a subscriber|subscribers only|for subscribers|this article is for subscribers"
    r"|premium content|sign in to read|log in to read|zum weiterlesen|weiterlesen mit"
    r"|exklusiv für abonnenten|nur für abonnenten|bereits abonnent|réservé aux abonnés"
    r"|contenido exclusivo para suscriptores|solo para suscriptores)\b",
    re.IGNORECASE,
)
_LISTING_TYPES = {"collectionpage", "itemlist", "searchresultspage", "website"}
_LIST_MIN_LINES = 8
_LIST_LONGEST = 150
_LIST_MEAN = 80


def judge(
    text: str,
    title: str | None,
    declared: Declared,
    *,
    min_chars: int,
    page_type: str | None = None,
) -> None:
    """Raise `NotAnArticle` with the reason when `text` is not an article's."""
    if len(text) < min_chars:
        raise NotAnArticle(f"too little text for an article ({len(text)} characters)")
    if len(text) >= STUB_CHARS:
        return
    if title and _ERROR_TITLE.search(title):
        raise NotAnArticle(f"error page (title {title[:80]!r})")
    # Sites mark whole articles not free to read too: without a prompt, only a very short
    # text counts as the teaser.
    teaser = declared.free_to_read is False and len(text) < TEASER_CHARS
    if teaser or _PAYWALL.search(text):
        raise NotAnArticle(f"paywall: only a teaser is readable ({len(text)} characters)")
    if _is_listing(declared, page_type) and _has_no_prose(text):
        raise NotAnArticle("index or list page, not an article (no paragraph of prose)")


def _is_listing(declared: Declared, page_type: str | None) -> bool:
    # Recipes, poems and lyrics are short lines too: only a page that calls itself a
    # collection (or a plain website rather than an article) is judged a listing.
    if declared.types & _ARTICLE_TYPES:
        return False
    return bool(declared.types & _LISTING_TYPES) or (page_type or "").lower() == "website"


def _has_no_prose(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < _LIST_MIN_LINES or max(map(len, lines)) >= _LIST_LONGEST:
        return False
    return sum(map(len, lines)) / len(lines) < _LIST_MEAN
