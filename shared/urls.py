"""URL identity: one canonical form per article, and an id stable for it."""

from __future__ import annotations

import hashlib
import re
import string
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from shared.errors import PermanentError

DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid", "_ga", "ref_src"}
)
MAX_URL_LENGTH = 2048
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Characters left as they are (RFC 3986 sub-delimiters and the ones a path or a query
# may hold); anything else, non-ASCII included, is percent-encoded as UTF-8.
_PATH_SAFE = "/:@!$&'()*+,;=%"
_QUERY_SAFE = "/?:@!$'()*+,;=%"  # `&` separates parameters, so it stays encoded


class InvalidUrl(PermanentError):
    """The text is not an http(s) URL newsflow can fetch."""


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in _TRACKING_PARAMS


def _normalise_escapes(text: str, safe: str) -> str:
    """Percent-encode what must be, upper-case escapes, and decode unreserved characters
    (`%7E` is `~`, `%41` is `A`); reserved ones (`%2F`, `%26`, `%3D`) stay encoded."""

    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    return _ESCAPE.sub(one, quote(text, safe=safe))


def _remove_dot_segments(path: str) -> str:
    """`/a/./b/../c` is `/a/c` (RFC 3986, 5.2.4); empty segments (`//`) are kept."""
    segments = path.split("/")[1:]
    kept: list[str] = []
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and kept:
                kept.pop()
            if last:
                kept.append("")  # `/a/b/..` is the directory `/a/`
            continue
        kept.append(segment)
    return "/" + "/".join(kept)


def _canonical_path(path: str) -> str:
    return _remove_dot_segments(_normalise_escapes(path or "/", _PATH_SAFE))


def _canonical_query(query: str) -> str:
    """Tracking parameters out, empty ones out, the rest sorted by name.

    The sort is stable, so repeated names (`a=1&a=2`) keep their order; `+` and `%20` and a
    name without `=` are kept as written, since servers may read them differently.
    """
    params: list[tuple[str, str]] = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        if not part or _is_tracking(unquote_plus(name)):
            continue
        name = _normalise_escapes(name, _QUERY_SAFE)
        params.append((name, name + sep + _normalise_escapes(value, _QUERY_SAFE)))
    params.sort(key=lambda param: param[0])
    return "&".join(text for _, text in params)


def canonical_url(url: str) -> str:
    """The one spelling of `url` that names its article.

    Lower-cases scheme and host (IDN hosts in punycode), drops default ports, fragments,
    tracking parameters (`utm_*`, `fbclid`, ...) and an empty query, sorts the query's
    parameters by name, removes dot segments, and spells percent-escapes one way (upper-case
    hex, unreserved characters decoded, non-ASCII encoded as UTF-8). Raises `InvalidUrl`.
    """
    text = url.strip()
    if not text:
        raise InvalidUrl("URL is empty")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidUrl(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in text):
        raise InvalidUrl("URL contains whitespace or control characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate, e.g. from JSON "\ud800"
        raise InvalidUrl("URL contains characters that are not valid text") from exc
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
    return urlunsplit(
        (scheme, netloc, _canonical_path(parts.path), _canonical_query(parts.query), "")
    )


def article_id(canonical: str) -> str:
    """A short id, the same for every submission of the same canonical URL."""
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]
