"""Near-duplicates: an LSH index of MinHash fingerprints in Redis, shared by all replicas.

Each article's fingerprint goes into one bucket per band. One Lua script records the
article (its signature and its arrival order, once) and returns the earlier articles
sharing any bucket with their signatures, so of two copies handled at once by two replicas
exactly one is the original. A candidate is a duplicate's original when the estimated
similarity reaches the threshold; a copy of a copy points at the first original.

An article is forgotten a retention period after it was recorded: each call forgets a
bounded batch of expired articles (signature, order, original), a bucket's expired members
are dropped whenever an article touches the bucket, and a bucket nobody has added to for
the retention period expires as a whole.
"""

from __future__ import annotations

import math
import time

from redis.asyncio import Redis

from services.extract.fingerprint import Signature, bands, from_bytes, similarity, to_bytes
from services.extract.retention import SWEEP_BATCH, cutoff
from shared.redis_values import as_text
from shared.streams import (
    DUPLICATES,
    FINGERPRINT_COUNTER,
    FINGERPRINT_ORDER,
    FINGERPRINT_RECORDED,
    FINGERPRINTS,
    lsh_bucket_key,
)

# KEYS: order, counter, signatures, recorded, originals, bucket...
# ARGV: article id, signature, now, cutoff (forget what was recorded before it), sweep
# batch, when the touched buckets expire (Unix milliseconds).
# Returns triples (id, order, signature) of earlier articles in any shared bucket.
_RECORD = """
local id, now, cutoff = ARGV[1], ARGV[3], ARGV[4]
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', cutoff,
                                'LIMIT', 0, tonumber(ARGV[5]))) do
  redis.call('ZREM', KEYS[1], old)
  redis.call('HDEL', KEYS[3], old)
  redis.call('ZREM', KEYS[4], old)
  redis.call('HDEL', KEYS[5], old)
end
local order = redis.call('ZSCORE', KEYS[1], id)
if not order then
  order = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], order, id)
  redis.call('HSET', KEYS[3], id, ARGV[2])
  redis.call('ZADD', KEYS[4], now, id)
end
order = tonumber(order)
local orders = {}
local out = {}
for i = 6, #KEYS do
  for _, other in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    if other ~= id then
      local other_order = orders[other]
      if other_order == nil then
        other_order = tonumber(redis.call('ZSCORE', KEYS[1], other)) or false
        orders[other] = other_order
        if other_order and other_order < order then
          out[#out + 1] = other
          out[#out + 1] = tostring(other_order)
          out[#out + 1] = redis.call('HGET', KEYS[3], other)
        end
      end
      if not other_order then
        redis.call('SREM', KEYS[i], other)
      end
    end
  end
  redis.call('SADD', KEYS[i], id)
  redis.call('PEXPIREAT', KEYS[i], ARGV[6])
end
return out
"""


class DuplicateIndex:
    def __init__(self, redis: Redis, threshold: float, retention_seconds: float) -> None:
        self.redis = redis
        self.threshold = threshold
        self.retention_seconds = retention_seconds
        self._script = redis.register_script(_RECORD)

    async def record(
        self, article_id: str, signature: Signature, now: float | None = None
    ) -> str | None:
        """Record the article at `now` (Unix seconds); the id of the earlier article it
        copies, if any."""
        now = time.time() if now is None else now
        buckets = [lsh_bucket_key(band, digest) for band, digest in enumerate(bands(signature))]
        reply = await self._script(
            keys=[
                FINGERPRINT_ORDER,
                FINGERPRINT_COUNTER,
                FINGERPRINTS,
                FINGERPRINT_RECORDED,
                DUPLICATES,
                *buckets,
            ],
            args=[
                article_id,
                to_bytes(signature),
                repr(now),
                cutoff(now, self.retention_seconds),
                SWEEP_BATCH,
                math.ceil((now + self.retention_seconds) * 1000),
            ],
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
