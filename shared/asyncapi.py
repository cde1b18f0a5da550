"""The AsyncAPI description of newsflow's streams and events, for `faststream docs gen`.

The stage workers parse their input themselves (a plain `XADD` ingest entry is not a
FastStream message), so their handlers carry no schema. This app declares, for every
stage, the stream and group it reads with the event it expects, and the stream it writes
with the event it publishes, from the same names (`shared.streams`) and schemas
(`shared.schemas`) the workers use. It never connects to Redis.

    faststream docs gen shared.asyncapi:app --out docs/asyncapi.json

`tests/unit/test_asyncapi.py` fails when the committed document is out of date.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream import FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from shared.schemas import (
    ArticleCleaned,
    ArticleExtracted,
    ArticleIndexed,
    PageFetched,
    UrlSubmitted,
)
from shared.streams import CLEAN, EXTRACT, FETCH, INDEX, Stage

VERSION = "0.1.0"
EVENTS: dict[Stage, tuple[type[BaseModel], type[BaseModel]]] = {
    FETCH: (UrlSubmitted, PageFetched),
    CLEAN: (PageFetched, ArticleCleaned),
    EXTRACT: (ArticleCleaned, ArticleExtracted),
    INDEX: (ArticleExtracted, ArticleIndexed),
}
"""What each stage reads and what it publishes."""

DESCRIPTIONS = {
    FETCH: "Fetch the page (internal addresses refused) and store its HTML once. Also accepts "
    "a plain entry `url <URL>` [`force 1`] from any Redis client.",
    CLEAN: "Extract the main text and metadata; a page that is not an article is skipped.",
    EXTRACT: "Recognise entities with canonical names.",
    INDEX: "Upsert the article into the search index; the output stream is public.",
}


def _declares(event_type: type[BaseModel]) -> Callable[..., Awaitable[None]]:
    """A handler that only states its input type; the workers do the work."""

    async def handler(event: Any) -> None:
        return None

    handler.__annotations__ = {"event": event_type, "return": None}
    return handler


def build_broker() -> RedisBroker:
    broker = RedisBroker(description="newsflow pipeline over Redis Streams")
    for stage, (consumed, published) in EVENTS.items():
        reads = StreamSub(stage.reads, group=stage.group, consumer=f"{stage.name}-<host>-<pid>")
        broker.subscriber(
            stream=reads, title=f"{stage.name}:{stage.reads}", description=DESCRIPTIONS[stage]
        )(_declares(consumed))
        broker.publisher(
            stream=stage.writes,
            title=f"{stage.name}:{stage.writes}",
            description=f"{published.__name__}, published by the {stage.name} stage.",
            schema=published,
        )
    return broker


app = FastStream(
    build_broker(),
    specification=AsyncAPI(
        title="newsflow",
        version=VERSION,
        description="Events between newsflow's stages. Delivery is at least once through one "
        "consumer group per stage; entries a stage gives up on go to `<stream>:dead`.",
    ),
)
