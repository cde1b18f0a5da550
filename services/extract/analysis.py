"""The extract stage's work on one article, without a broker or Redis.

`analyse(title, text, published)` returns the language, entities, dateline, quotes,
keywords, lead summary and MinHash fingerprint. Cross-article decisions (canonical names
shared with other articles, duplicates, stories) are the worker's layer on top
(`services.extract.registry`, `services.extract.stories`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.extract.dateline import find_dateline
from services.extract.entities import load_model, recognise_entities
from services.extract.fingerprint import Signature, fingerprint
from services.extract.keywords import keywords, lead_summary
from services.extract.language import detect_language
from services.extract.quotes import find_quotes
from shared.schemas import Dateline, Entity, Quote

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
    dateline without a year its year; offsets in the result index into `text`."""
    language = detect_language(text, declared_language)
    dateline = find_dateline(text, published)
    signature = fingerprint(text)
    if language not in (ENTITY_LANGUAGE, None):
        return Extraction(
            language, [], dateline, [], [], lead_summary(text, title, dateline), signature
        )
    doc = (nlp or load_model())(text)
    entities = recognise_entities(text, doc=doc)
    return Extraction(
        language=language,
        entities=entities,
        dateline=dateline,
        quotes=find_quotes(text, entities),
        keywords=keywords(doc, entities, title),
        summary=lead_summary(text, title, dateline),
        fingerprint=signature,
    )
