"""Who wrote the article: the people a page names, not the publication.

Sites often put their own name where a byline belongs: `<meta name="author" content="USA
TODAY">`, a JSON-LD `author` of type Organization, a byline that reads "USA TODAY". That
is the site's name said again, not an author. What remains are the people; when nothing
remains, the byline in the page itself is read instead. A name the page also declares a
Person (a personal site named after its author) stays an author.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def name_key(name: str) -> str:
    """`USA TODAY`, `@USATODAY` and `usatoday` are the same name."""
    return _NOT_ALPHANUMERIC.sub("", name.casefold())


def organisation_keys(names: Iterable[str | None], people: Iterable[str] = ()) -> frozenset[str]:
    """Keys of the names of organisations, less those also declared people."""
    persons = {name_key(name) for name in people}
    keys = {name_key(name) for name in names if name}
    return frozenset(keys - persons - {""})


def split_names(raw: str | None) -> list[str]:
    """The names in `raw` ("A; B"), as trafilatura lists authors."""
    if not raw:
        return []
    return [name.strip() for name in raw.split(";") if name.strip()]


def people(raw: str | None, organisations: frozenset[str]) -> list[str]:
    """The names in `raw` ("A; B") that are not an organisation's."""
    return [name for name in split_names(raw) if name_key(name) not in organisations]
