"""extract: entities, dateline, quotes, keywords, summary and language of one article.

`analyse(title, text, published)` does the stage's work without a broker; offsets (entity
mentions, quotes, the dateline) are character offsets into `text`. The worker adds what
needs other articles (canonical names across articles, duplicates, stories) on top, with
state in Redis (`services.extract.linking`).
"""

from services.extract.analysis import Extraction, analyse
from services.extract.entities import load_model, recognise_entities

__all__ = ["Extraction", "analyse", "load_model", "recognise_entities"]
