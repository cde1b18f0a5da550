"""Claim check for page HTML: stored once, compressed, under its content hash.

Stream entries stay small; the fetch event carries only the key.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import TYPE_CHECKING

from shared.errors import PermanentError
from shared.streams import html_key

if TYPE_CHECKING:
    from redis.asyncio import Redis


def content_hash(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8", "surrogatepass")).hexdigest()


async def store_html(redis: Redis, html: str, *, ttl_seconds: int) -> tuple[str, str]:
    """Store `html` unless the same content is already there. Returns (key, content hash)."""
    digest = content_hash(html)
    key = html_key(digest)
    if not await redis.expire(key, ttl_seconds):
        await redis.set(
            key, zlib.compress(html.encode("utf-8", "surrogatepass"), 6), ex=ttl_seconds
        )
    return key, digest


async def load_html(redis: Redis, key: str) -> str:
    blob = await redis.get(key)
    if blob is None:
        raise PermanentError(f"stored page {key} has expired; submit the URL again")
    data = blob.encode() if isinstance(blob, str) else blob
    return zlib.decompress(data).decode("utf-8", "surrogatepass")
