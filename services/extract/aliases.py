"""Alias keys: the spelling-independent form under which one entity is known.

"Sergei Lavrov" and "Sergey Lavrov", "Mike Pompeo" and "Michael Pompeo", "Donald J. Trump"
and "Donald Trump", "U.S." and "United States" each share a key. Within one article
entities with one key merge; across articles the alias registry
(`services.extract.registry`) maps each key to the first canonical name any replica
recorded for it.
"""

from __future__ import annotations

import re
import unicodedata

from shared.schemas import EntityType

# Short forms of places and organisations that the model keeps apart from the full name.
KNOWN_ALIASES = {
    "us": "United States",
    "usa": "United States",
    "united states": "United States",
    "united states of america": "United States",
    "america": "United States",
    "uk": "United Kingdom",
    "britain": "United Kingdom",
    "great britain": "United Kingdom",
    "united kingdom": "United Kingdom",
    "un": "United Nations",
    "united nations": "United Nations",
    "eu": "European Union",
    "european union": "European Union",
    "nato": "NATO",
    "russian federation": "Russia",
}
NICKNAMES = {
    "mike": "michael",
    "mick": "michael",
    "bill": "william",
    "will": "william",
    "bob": "robert",
    "rob": "robert",
    "jim": "james",
    "jimmy": "james",
    "joe": "joseph",
    "tom": "thomas",
    "dick": "richard",
    "rick": "richard",
    "dave": "david",
    "steve": "steven",
    "stephen": "steven",
    "tony": "anthony",
    "alex": "alexander",
    "sasha": "alexander",
    "liz": "elizabeth",
    "kate": "katherine",
    "catherine": "katherine",
    "nick": "nicholas",
    "chris": "christopher",
    "dan": "daniel",
    "ben": "benjamin",
    "ted": "edward",
    "ed": "edward",
}
# Personal titles the model sometimes includes in a PERSON span.
TITLES = frozenset(
    str.split(
        "president vice prime minister foreign secretary of state chancellor mr mr. mrs mrs. "
        "ms ms. dr dr. sir senator sen. rep. gov. governor general gen. spokesman spokeswoman "
        "russian us u.s. american chinese french german british ukrainian kremlin "
        "presidential ambassador king queen prince pope mayor deputy defense defence"
    )
)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", plain.replace(".", "").replace("’", "'")).strip().lower()


def _transliteration(word: str) -> str:
    """One spelling for the romanisations of one Russian or Ukrainian name."""
    word = word.replace("ks", "x")
    word = re.sub(r"(?<=[aeo])i$", "y", word)
    word = re.sub(r"ii$", "iy", word)
    return re.sub(r"(?<=[bcdfghklmnprstvz])i$", "y", word)


def person_key(name: str) -> str:
    words = [NICKNAMES.get(word, word) for word in _fold(name).split()]
    # A middle initial comes and goes ("Donald J. Trump"); the first and last names stay.
    words = [w for i, w in enumerate(words) if len(w) > 1 or i in (0, len(words) - 1)]
    return " ".join(_transliteration(word) for word in words)


def alias_key(name: str, kind: EntityType) -> str:
    """The registry key of a name: type, then the folded, respelt name."""
    if kind is EntityType.PERSON:
        return f"{kind.value}:{person_key(name)}"
    return f"{kind.value}:{_fold(KNOWN_ALIASES.get(_fold(name), name))}"


def known_alias(name: str) -> str | None:
    """The full name for a well-known short form ("U.S." -> "United States")."""
    return KNOWN_ALIASES.get(_fold(name))


def strip_titles(name: str) -> str:
    """ "Russian President Vladimir Putin" -> "Vladimir Putin" (keeps at least one word)."""
    words = name.split()
    while len(words) > 1 and words[0].lower() in TITLES:
        words.pop(0)
    return " ".join(words)
