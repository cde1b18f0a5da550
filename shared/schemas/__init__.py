"""Event schemas, one module per stage. Events are frozen, versioned pydantic models.

ingest  UrlSubmitted     API or plain XADD  ->  fetch
fetch   PageFetched      fetch              ->  clean
clean   ArticleCleaned   clean              ->  extract
extract ArticleExtracted extract            ->  index
index   ArticleIndexed   index              ->  newsflow:indexed (public)
"""

from shared.schemas.base import Event
from shared.schemas.clean import ArticleCleaned, Content
from shared.schemas.extract import (
    ArticleExtracted,
    Dateline,
    Entity,
    EntityType,
    Mention,
    Quote,
)
from shared.schemas.fetch import PageFetched
from shared.schemas.index import ArticleIndexed
from shared.schemas.ingest import UrlSubmitted

__all__ = [
    "ArticleCleaned",
    "ArticleExtracted",
    "ArticleIndexed",
    "Content",
    "Dateline",
    "Entity",
    "EntityType",
    "Event",
    "Mention",
    "PageFetched",
    "Quote",
    "UrlSubmitted",
]
