"""How an article's status hash is shown to API users."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from shared.streams import STAGES

_STAGE_FIELDS = tuple(f"{name}_ms" for name in STAGES)


def _number(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def _timestamp(value: str | None) -> str | None:
    seconds = _number(value)
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds is not None else None


def article_view(fields: dict[str, str], document: dict[str, Any] | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": fields.get("id"),
        "url": fields.get("url"),
        "status": fields.get("status"),
        "submitted_at": _timestamp(fields.get("submitted_at")),
        "updated_at": _timestamp(fields.get("updated_at")),
        "stage_ms": {
            name.removesuffix("_ms"): _number(fields.get(name))
            for name in _STAGE_FIELDS
            if fields.get(name)
        },
        "trace_id": fields.get("trace_id"),
    }
    if fields.get("status") == "failed":
        view["error"] = {"stage": fields.get("error_stage"), "reason": fields.get("error_reason")}
    if fields.get("status") == "skipped":
        view["reason"] = fields.get("reason")
    if fields.get("refetch"):
        # A forced re-fetch found the page unchanged; the earlier run's outcome stands.
        view["refetch"] = fields["refetch"]
    until = _number(fields.get("waiting_until"))
    if fields.get("status") == "queued" and until is not None and until > time.time():
        # Parked by the fetch stage until its host may be asked (politeness, Retry-After).
        view["waiting"] = {"reason": fields.get("waiting_reason"), "until": _timestamp(str(until))}
    if document is not None:
        view["article"] = document
    return view
