"""What a page declares about itself: JSON-LD, `<meta>` tags, `<html lang>`.

Only declared values are returned; a date the page does not state is `None`, never today.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura.metadata import (
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)
from trafilatura.settings import Document

from services.clean.authors import organisation_keys, people
from services.clean.language import detect_language

ARTICLE_TYPES = {"article", "newsarticle", "reportagenewsarticle", "blogposting", "report"}
ORGANISATION_TYPES = {"organization", "newsmediaorganization", "corporation", "organisation"}
_CREDITED = ("author", "creator", "publisher", "sourceOrganization", "copyrightHolder")
_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")
_LANGUAGE_TAG = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]+)*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Declared:
    """Metadata a page states in its markup."""

    article_body: str | None = None
    modified: str | None = None
    published: str | None = None
    language: str | None = None
    free_to_read: bool | None = None
    types: frozenset[str] = frozenset()
    organisations: frozenset[str] = frozenset()
    """Names of the organisations the page credits (publisher, an Organization author)."""
    people: frozenset[str] = frozenset()
    """Names of the people the page credits (a Person author)."""


def _json_ld(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    for script in tree.iterfind(".//script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        try:
            data = json.loads(script.text or "", strict=False)
        except ValueError:
            continue
        stack: list[Any] = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                stack.extend(v for k, v in item.items() if k in {"@graph", "mainEntity"})


def _types(item: dict[str, Any]) -> set[str]:
    kind = item.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower() for k in kinds if isinstance(k, str)}


def _credited(item: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """(name, is a person) for the organisations and people an item credits."""
    for key in _CREDITED:
        credited = item.get(key)
        for entry in credited if isinstance(credited, list) else [credited]:
            if isinstance(entry, str) and key == "publisher":
                yield entry, False
            elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
                kinds = _types(entry)
                if "person" in kinds:
                    yield entry["name"], True
                elif key == "publisher" or kinds & ORGANISATION_TYPES:
                    yield entry["name"], False


def _meta(tree: HtmlElement, *names: str) -> str | None:
    for element in tree.iterfind(".//meta"):
        key = element.get("property") or element.get("name") or element.get("itemprop") or ""
        if key.strip().lower() in names and (value := (element.get("content") or "").strip()):
            return value
    return None


def _iso_date(value: object) -> str | None:
    if isinstance(value, str) and (match := _ISO_DATE.match(value.strip())):
        return match.group(1)
    return None


def language_tag(value: str | None) -> str | None:
    """`en-GB`, `de_DE` → `en`, `de`; anything that is not a language tag → None."""
    if value and (match := _LANGUAGE_TAG.match(value.strip())):
        return match.group(1).lower()
    return None


def declared_metadata(tree: HtmlElement) -> Declared:
    body: str | None = None
    modified = published = in_language = None
    free: bool | None = None
    types: set[str] = set()
    credited: dict[bool, set[str]] = {False: set(), True: set()}
    for item in _json_ld(tree):
        kinds = _types(item)
        types |= kinds
        for name, is_person in _credited(item):
            credited[is_person].add(name)
        if not kinds & ARTICLE_TYPES and "articleBody" not in item:
            continue
        text = item.get("articleBody")
        if isinstance(text, str) and len(text) > len(body or ""):
            body = text
        modified = modified or _iso_date(item.get("dateModified"))
        published = published or _iso_date(item.get("datePublished"))
        if isinstance(item.get("inLanguage"), str):
            in_language = in_language or item["inLanguage"]
        access = item.get("isAccessibleForFree")
        if access is not None and free is None:
            free = str(access).strip().lower() not in {"false", "0", "no"}
    modified = modified or _iso_date(
        _meta(tree, "article:modified_time", "og:updated_time", "datemodified", "last-modified")
    )
    published = published or _iso_date(
        _meta(tree, "article:published_time", "datepublished", "pubdate")
    )
    language = (
        language_tag(tree.get("lang"))
        or language_tag(tree.get("{http://www.w3.org/XML/1998/namespace}lang"))
        or language_tag(_meta(tree, "content-language", "language", "dc.language"))
        or language_tag(in_language)
        or language_tag(_meta(tree, "og:locale"))
    )
    if language is None:
        for element in tree.iterfind(".//meta"):
            if (element.get("http-equiv") or "").lower() == "content-language":
                language = language_tag(element.get("content"))
                break
    credited[False].update(
        name for name in (_meta(tree, "og:site_name"), _meta(tree, "twitter:site")) if name
    )
    return Declared(
        body,
        modified,
        published,
        language,
        free,
        frozenset(types),
        frozenset(credited[False]),
        frozenset(credited[True]),
    )


def page_metadata(tree: HtmlElement, url: str | None, declared: Declared) -> Document:
    """Title, authors, canonical URL, date, site name and image, as trafilatura finds them.

    The same steps as `trafilatura.metadata.extract_metadata` without categories, tags and
    licence, which the stage does not use and which cost a third of its time. Authors are
    people: the publication's own name is not one (services/clean/authors.py).
    """
    found: Document = examine_meta(tree)
    if found.author and " " not in found.author:
        found.author = None  # a bare handle, not a name
    # Malformed JSON-LD: the markup's other metadata still counts.
    with contextlib.suppress(ValueError, TypeError, AttributeError, KeyError):
        found = extract_meta_json(tree, found)
    found.title = found.title or extract_title(tree)
    found.url = found.url or extract_url(tree, url)
    found.sitename = found.sitename or extract_sitename(tree)
    organisations = organisation_keys([*declared.organisations, found.sitename], declared.people)
    authors = people(found.author, organisations) or people(extract_author(tree), organisations)
    found.author = "; ".join(authors) or None
    # A date the page states, the original rather than an update; never today's as a guess.
    found.date = find_date(tree, url=found.url, extensive_search=False, original_date=True)
    if found.sitename:
        found.sitename = found.sitename.lstrip("@")
        if "." not in found.sitename and not found.sitename[:1].isupper():
            found.sitename = found.sitename.title()
    found.clean_and_trim()
    return found


def page_language(declared: Declared, text: str) -> str | None:
    """The declared language, else one detected from the text's common words."""
    return declared.language or detect_language(text)
