from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """Base of every stream event: immutable, strict about unknown fields, versioned.

    A consumer that meets a `schema_version` it does not know rejects the event
    (it ends in the dead-letter stream) instead of guessing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    article_id: str
