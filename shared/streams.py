"""Every stream, consumer group and key name newsflow uses, in one place.

Compose files, Kubernetes manifests and KEDA objects name the same streams and groups;
tests check that they agree with this module.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "newsflow"

INGEST = f"{PREFIX}:ingest"
FETCHED = f"{PREFIX}:fetched"
CLEANED = f"{PREFIX}:cleaned"
EXTRACTED = f"{PREFIX}:extracted"
INDEXED = f"{PREFIX}:indexed"
"""Public output: one `ArticleIndexed` event per indexed article."""

DEAD_SUFFIX = ":dead"


@dataclass(frozen=True, slots=True)
class Stage:
    """A pipeline stage: the stream it reads through its group, and where it writes."""

    name: str
    reads: str
    writes: str

    @property
    def group(self) -> str:
        return self.name

    @property
    def dead_letters(self) -> str:
        return dead_letter_stream(self.reads)


FETCH = Stage("fetch", reads=INGEST, writes=FETCHED)
CLEAN = Stage("clean", reads=FETCHED, writes=CLEANED)
EXTRACT = Stage("extract", reads=CLEANED, writes=EXTRACTED)
INDEX = Stage("index", reads=EXTRACTED, writes=INDEXED)

STAGES: dict[str, Stage] = {stage.name: stage for stage in (FETCH, CLEAN, EXTRACT, INDEX)}


def dead_letter_stream(stream: str) -> str:
    return f"{stream}{DEAD_SUFFIX}"


def article_key(article_id: str) -> str:
    """Hash holding one article's status, stage times and error."""
    return f"{PREFIX}:article:{article_id}"


def html_key(content_hash: str) -> str:
    """Raw HTML, compressed, stored once per content hash (claim check)."""
    return f"{PREFIX}:html:{content_hash}"


# Extract stage: cross-article state shared by all its replicas.
ENTITY_ALIASES = f"{PREFIX}:entity:aliases"
"""Hash: alias key (`person:sergey lavrov`, `person:lavrov`) -> canonical entity name."""
ENTITY_ALIASES_USED = f"{PREFIX}:entity:aliases:used"
"""Sorted set: alias key by when an article last used it (Unix seconds); kept for the
retention period after that."""
FINGERPRINTS = f"{PREFIX}:fingerprint:signatures"
"""Hash: article id -> MinHash signature (bytes)."""
FINGERPRINT_ORDER = f"{PREFIX}:fingerprint:order"
"""Sorted set: article id by the order its fingerprint was first recorded."""
FINGERPRINT_COUNTER = f"{PREFIX}:fingerprint:counter"
FINGERPRINT_RECORDED = f"{PREFIX}:fingerprint:recorded"
"""Sorted set: article id by when its fingerprint was recorded (Unix seconds)."""
DUPLICATES = f"{PREFIX}:fingerprint:duplicates"
"""Hash: article id -> id of the earlier article it copies."""
STORY_DAYS = f"{PREFIX}:story:days"
"""Sorted set: article id by publication day (days since 1970-01-01)."""
STORY_FEATURES = f"{PREFIX}:story:features"
"""Hash: article id -> JSON of its story id, salient entities and keywords."""
STORY_RECORDED = f"{PREFIX}:story:recorded"
"""Sorted set: article id by when it was placed in a story (Unix seconds)."""


def lsh_bucket_key(band: int, digest: str) -> str:
    """Set of article ids whose fingerprints agree on one band."""
    return f"{PREFIX}:fingerprint:lsh:{band}:{digest}"


def host_slot_key(host: str) -> str:
    """The next time (ms, server clock) any fetch process may send `host` a request."""
    return f"{PREFIX}:fetch:host:{host}"


def robots_key(origin: str) -> str:
    """A host's robots.txt verdict and rules (`scheme://host:port`), cached with a TTL."""
    return f"{PREFIX}:fetch:robots:{origin}"


def validators_key(article_id: str) -> str:
    """ETag, Last-Modified and content hash of an article's last fetch (conditional GET)."""
    return f"{PREFIX}:fetch:validators:{article_id}"


def fetch_lease_key(article_id: str) -> str:
    """Held while one fetch process downloads an article, so duplicates in flight wait."""
    return f"{PREFIX}:fetch:lease:{article_id}"


PARKED = f"{PREFIX}:fetch:parked"
"""Sorted set: URLs set aside until their host is free, by the time (ms) they are due."""
PARKED_ENTRIES = f"{PREFIX}:fetch:parked:entries"
"""Hash: parked URL -> the ingest entry that puts it back on the stream."""


def parked_host_key(host: str) -> str:
    """When (ms, server clock) the last URL parked for `host` is due: the next is spaced after."""
    return f"{PREFIX}:fetch:parked:host:{host}"


def fetch_attempts_key(article_id: str) -> str:
    """Failed attempts to fetch an article, redeliveries and parked waits alike."""
    return f"{PREFIX}:fetch:attempts:{article_id}"
