from __future__ import annotations

from datetime import datetime
from typing import Literal

from shared.schemas.base import Event


class PageFetched(Event):
    """A page was downloaded; its HTML waits in Redis under `html_key` (claim check)."""

    schema_version: Literal[1] = 1
    url: str
    final_url: str
    status_code: int
    content_type: str
    html_key: str
    content_hash: str
    size_bytes: int
    fetched_at: datetime
