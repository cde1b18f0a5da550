"""Small conversions for what Redis hands back: bytes to text, stream ids to sort keys."""

from __future__ import annotations

from typing import Any


def as_text(value: Any, errors: str = "replace") -> str:
    """Text of a Redis reply value; undecodable bytes are replaced (or escaped)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors)
    return str(value)


def stream_id_order(entry_id: str) -> tuple[int, int]:
    """Sort key of a stream entry id (`<millis>-<seq>`): ids do not sort as strings."""
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)
