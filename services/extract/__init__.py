"""extract: canonical entities from an article's clean text.

`recognise_entities(text)` does the stage's work without a broker; mention offsets
are character offsets into `text`.
"""

from services.extract.entities import load_model, recognise_entities

__all__ = ["load_model", "recognise_entities"]
