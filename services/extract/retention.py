"""How long the extract stage remembers other articles.

Cross-article state (aliases, fingerprints, story features) is kept for a retention period
(`NEWSFLOW_EXTRACT_RETENTION_DAYS`) measured from when the stage recorded or last used an
entry, not from publication dates: an archive of 2017 pages ingested today still forms its
stories. Every write also forgets a bounded batch of expired entries, so Redis holds about
what the stage saw within the period, and no call pays for a long backlog at once.
"""

from __future__ import annotations

SWEEP_BATCH = 200
"""At most this many expired entries are forgotten per call: far more than one article adds,
so forgetting keeps up with recording."""

SECONDS_PER_DAY = 86_400


def cutoff(now: float, retention_seconds: float) -> str:
    """The exclusive score bound below which sorted-set entries have expired."""
    return f"({now - retention_seconds!r}"
