"""The extract stage's work on one article, without a broker or Redis.

`analyse(title, text, published)` returns the language, entities, dateline, quotes,
keywords, lead summary and MinHash fingerprint. Cross-article decisions (canonical names
shared with other articles, duplicates, stories) are the worker's layer on top
(`services.extract.registry`, `services.extract.stories`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.extract.aliases import alias_key
from services.extract.dateline import find_dateline
from services.extract.entities import load_model, recognise_entities
from services.extract.fingerprint import Signature, fingerprint
from services.extract.keywords import keywords, lead_summary
from services.extract.language import detect_language
from services.extract.quotes import find_quotes
from shared.errors import PermanentError
from shared.schemas import Dateline, Entity, EntityType, Mention, Quote

if TYPE_CHECKING:
    from spacy.language import Language

ENTITY_LANGUAGE = "en"
"""The one language the entity model reads; other languages get no entities or quotes."""


@dataclass(frozen=True, slots=True)
class Extraction:
    language: str | None
    entities: list[Entity]
    dateline: Dateline | None
    quotes: list[Quote]
    keywords: list[str]
    summary: str | None
    fingerprint: Signature

    def as_json(self) -> dict[str, Any]:
        """Everything but the fingerprint, as JSON-ready values."""
        return {
            "language": self.language,
            "dateline": self.dateline.model_dump(mode="json") if self.dateline else None,
            "summary": self.summary,
            "keywords": self.keywords,
            "entities": [entity.model_dump(mode="json") for entity in self.entities],
            "quotes": [quote.model_dump(mode="json") for quote in self.quotes],
        }


def analyse(
    title: str | None,
    text: str,
    published: str | None = None,
    declared_language: str | None = None,
    nlp: Language | None = None,
) -> Extraction:
    """Everything the extract stage finds in one article. `published` (ISO date) gives a
    dateline without a year its year; offsets in the result index into `text`.

    Raises `PermanentError` for a text too long for the entity model."""
    language = detect_language(text, declared_language)
    dateline = find_dateline(text, published)
    signature = fingerprint(text)
    if language not in (ENTITY_LANGUAGE, None):
        return Extraction(
            language, [], dateline, [], [], lead_summary(text, title, dateline), signature
        )
    nlp = nlp or load_model()
    if len(text) > nlp.max_length:
        raise PermanentError(
            f"text of {len(text):,} characters is over the entity model's limit of "
            f"{nlp.max_length:,}: not a news article"
        )
    doc = nlp(text)
    entities = _with_dateline_places(recognise_entities(text, doc=doc), dateline, text)
    return Extraction(
        language=language,
        entities=entities,
        dateline=dateline,
        quotes=find_quotes(text, entities),
        keywords=keywords(doc, entities, title),
        summary=lead_summary(text, title, dateline),
        fingerprint=signature,
    )


def _with_dateline_places(
    entities: list[Entity], dateline: Dateline | None, text: str
) -> list[Entity]:
    """The dateline's place and region are places of the article, whether or not the model
    saw them in capitals ("ROVANIEMI /Finland/")."""
    if dateline is None:
        return entities
    opening = text[dateline.start : dateline.end].lower()
    by_key = {alias_key(e.name, e.type): i for i, e in enumerate(entities)}
    result = list(entities)
    total = sum(len(e.mentions) for e in entities) + 1
    for name in (dateline.place, dateline.region):
        where = opening.find(name.lower()) if name else -1
        if name is None or where < 0:
            continue
        start = dateline.start + where
        mention = Mention(text=text[start : start + len(name)], start=start, end=start + len(name))
        key = alias_key(name, EntityType.PLACE)
        if key in by_key:
            entity = result[by_key[key]]
            if any(m.start <= start < m.end for m in entity.mentions):
                continue
            mentions = sorted([*entity.mentions, mention], key=lambda m: m.start)
            result[by_key[key]] = entity.model_copy(update={"mentions": mentions})
        else:
            salience = round(0.3 + 0.7 / total, 4)
            result.append(
                Entity(name=name, type=EntityType.PLACE, mentions=[mention], salience=salience)
            )
            by_key[key] = len(result) - 1
    result.sort(key=lambda e: e.salience, reverse=True)
    return result
