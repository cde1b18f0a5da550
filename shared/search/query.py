"""The user's query language, parsed once and rendered for each backend.

    q := term (op? term)*      words, "phrases", prefix*, joined by AND (default), OR, NOT

Every word and phrase is quoted when rendered, so punctuation in user input cannot inject
backend syntax. Precedence is the same in FTS5 and tsquery: NOT, then AND, then OR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_OPERATORS = frozenset({"AND", "OR", "NOT"})
_WORD = re.compile(r"[\w][\w'’.-]*\*?", re.UNICODE)


class QueryError(ValueError):
    """A search request newsflow cannot run; the message says why."""


@dataclass(frozen=True, slots=True)
class Term:
    words: tuple[str, ...]
    """One word, or the words of a phrase in order."""
    prefix: bool = False


Token = Term | str
"""A term, or one of the operators "AND", "OR", "NOT"."""


def parse_query(query: str) -> list[Token]:
    """Terms and explicit operators, with AND made explicit between adjacent terms."""
    if query.count('"') % 2:
        raise QueryError("unbalanced quotes in query")
    tokens: list[Token] = []

    def add_term(term: Term) -> None:
        if tokens and isinstance(tokens[-1], Term):
            tokens.append("AND")
        tokens.append(term)

    for match in _TOKEN.finditer(query):
        phrase, word = match.groups()
        if phrase is not None:
            words = tuple(w.rstrip("*") for w in _WORD.findall(phrase))
            if words:
                add_term(Term(words))
        elif word in _OPERATORS:
            if not tokens or not isinstance(tokens[-1], Term):
                raise QueryError(f"{word} needs a term before it")
            tokens.append(word)
        else:
            for item in _WORD.findall(word):
                term = item.rstrip("*")
                if term:
                    add_term(Term((term,), prefix=item.endswith("*")))
    if not tokens:
        raise QueryError("query has no words to search for")
    if not isinstance(tokens[-1], Term):
        raise QueryError(f"{tokens[-1]} needs a term after it")
    return tokens


def _quote(word: str) -> str:
    return '"' + word.replace('"', "") + '"'


def to_fts5(tokens: list[Token]) -> str:
    parts: list[str] = []
    for item in tokens:
        if isinstance(item, str):
            parts.append(item)
        else:
            text = _quote(" ".join(item.words))
            parts.append(text + "*" if item.prefix else text)
    return " ".join(parts)


def to_tsquery(tokens: list[Token]) -> str:
    """PostgreSQL `to_tsquery('simple', ...)` text; words are lexemes quoted as literals."""
    parts: list[str] = []
    for item in tokens:
        if item == "AND":
            parts.append("&")
        elif item == "OR":
            parts.append("|")
        elif item == "NOT":
            parts.append("& !")
        elif isinstance(item, Term):
            words = ["'" + w.lower().replace("'", "''").replace("\\", "") + "'" for w in item.words]
            text = " <-> ".join(words)
            if item.prefix:
                text += ":*"
            parts.append(f"({text})" if len(words) > 1 else text)
    return " ".join(parts)


def to_fts_query(query: str) -> str:
    """The query in SQLite FTS5 syntax."""
    return to_fts5(parse_query(query))


def highlight_words(tokens: list[Token]) -> list[str]:
    """Words worth marking in a snippet: every term not negated by NOT."""
    words: list[str] = []
    negated = False
    for item in tokens:
        if item == "NOT":
            negated = True
        elif isinstance(item, Term):
            if not negated:
                words.extend(item.words)
            negated = False
    return words
