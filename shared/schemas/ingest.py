from __future__ import annotations

from datetime import datetime
from typing import Literal

from shared.schemas.base import Event


class UrlSubmitted(Event):
    """A URL handed to newsflow, by the API or by a plain `XADD newsflow:ingest * url URL`."""

    schema_version: Literal[1] = 1
    url: str
    force: bool = False
    submitted_at: datetime
