"""URL identity: one canonical form per article, and an id stable for it."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shared.errors import PermanentError

DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid", "_ga", "ref_src"}
)
MAX_URL_LENGTH = 2048


class InvalidUrl(PermanentError):
    """The text is not an http(s) URL newsflow can fetch."""


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in _TRACKING_PARAMS


def canonical_url(url: str) -> str:
    """The one spelling of `url` that names its article.

    Lower-cases scheme and host, drops default ports, fragments and tracking parameters
    (`utm_*`, `fbclid`, ...), and gives an empty path as `/`. Raises `InvalidUrl`.
    """
    text = url.strip()
    if not text:
        raise InvalidUrl("URL is empty")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidUrl(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in text):
        raise InvalidUrl("URL contains whitespace or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"URL is malformed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidUrl(f"URL scheme must be http or https, not {scheme or 'missing'!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidUrl("URL has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidUrl("URL must not carry credentials")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host.lower()
    except UnicodeError as exc:
        raise InvalidUrl(f"URL host is not a valid name: {exc}") from exc
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def article_id(canonical: str) -> str:
    """A short id, the same for every submission of the same canonical URL."""
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]
