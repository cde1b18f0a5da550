"""Near-duplicates: an LSH index of MinHash fingerprints in Redis, shared by all replicas.

Each article's fingerprint goes into one bucket per band. One Lua script records the
article (its signature and its arrival order, once) and returns the earlier articles
sharing any bucket with their signatures, so of two copies handled at once by two replicas
exactly one is the original. A candidate is a duplicate's original when the estimated
similarity reaches the threshold; a copy of a copy points at the first original.
"""

from __future__ import annotations

from redis.asyncio import Redis

from services.extract.fingerprint import Signature, bands, from_bytes, similarity, to_bytes
from shared.redis_values import as_text
from shared.streams import (
    DUPLICATES,
    FINGERPRINT_COUNTER,
    FINGERPRINT_ORDER,
    FINGERPRINTS,
    lsh_bucket_key,
)

# KEYS: order, counter, signatures, bucket...; ARGV: article id, signature.
# Returns triples (id, order, signature) of earlier articles in any shared bucket.
_RECORD = """
local id = ARGV[1]
local order = redis.call('ZSCORE', KEYS[1], id)
if not order then
  order = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], order, id)
  redis.call('HSET', KEYS[3], id, ARGV[2])
end
order = tonumber(order)
local seen = {}
local out = {}
for i = 4, #KEYS do
  for _, other in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    if other ~= id and not seen[other] then
      seen[other] = true
      local other_order = tonumber(redis.call('ZSCORE', KEYS[1], other))
      if other_order and other_order < order then
        out[#out + 1] = other
        out[#out + 1] = tostring(other_order)
        out[#out + 1] = redis.call('HGET', KEYS[3], other)
      end
    end
  end
  redis.call('SADD', KEYS[i], id)
end
return out
"""


class DuplicateIndex:
    def __init__(self, redis: Redis, threshold: float) -> None:
        self.redis = redis
        self.threshold = threshold
        self._script = redis.register_script(_RECORD)

    async def record(self, article_id: str, signature: Signature) -> str | None:
        """Record the article; the id of the earlier article it copies, if any."""
        buckets = [lsh_bucket_key(band, digest) for band, digest in enumerate(bands(signature))]
        reply = await self._script(
            keys=[FINGERPRINT_ORDER, FINGERPRINT_COUNTER, FINGERPRINTS, *buckets],
            args=[article_id, to_bytes(signature)],
        )
        best: tuple[float, int, str] | None = None
        for i in range(0, len(reply), 3):
            other, order, raw = as_text(reply[i]), int(reply[i + 1]), reply[i + 2]
            score = similarity(signature, from_bytes(raw))
            if score >= self.threshold and (best is None or (-score, order) < (-best[0], best[1])):
                best = (score, order, other)
        if best is None:
            return None
        original = await self.redis.hget(DUPLICATES, best[2])
        original_id = as_text(original) if original is not None else best[2]
        await self.redis.hset(DUPLICATES, article_id, original_id)
        return original_id
