"""MinHash fingerprints of clean text, for finding near-copies (syndicated wire stories).

A fingerprint is PERMUTATIONS 32-bit minimums over the text's five-word shingles; the share
of equal positions in two fingerprints estimates the Jaccard similarity of their shingle
sets. For the LSH index the fingerprint is cut into BANDS bands of ROWS values: two texts
become candidates when any band matches, which for ROWS=4, BANDS=32 catches nearly all
pairs above 0.6 similarity and few below 0.3. The parameters are part of the stored index:
changing them needs an empty index.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import numpy.typing as npt

PERMUTATIONS = 128
BANDS = 32
ROWS = PERMUTATIONS // BANDS
SHINGLE_WORDS = 5
_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
_rng = np.random.RandomState(20190506)  # fixed: fingerprints must agree across replicas
_A = _rng.randint(1, (1 << 61) - 1, size=PERMUTATIONS, dtype=np.uint64)
_B = _rng.randint(0, (1 << 61) - 1, size=PERMUTATIONS, dtype=np.uint64)
_WORD = re.compile(r"\w+", re.UNICODE)

Signature = npt.NDArray[np.uint32]


def shingles(text: str) -> set[str]:
    words = [word.lower() for word in _WORD.findall(text)]
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def fingerprint(text: str) -> Signature:
    """The MinHash signature of `text` (all-maximum for a text without words)."""
    found = shingles(text)
    if not found:
        return np.full(PERMUTATIONS, _MAX_HASH, dtype=np.uint32)
    hashes = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(s.encode(), digest_size=4).digest(), "little")
            for s in found
        ),
        dtype=np.uint64,
        count=len(found),
    )
    # Overflow in the product wraps modulo 2**64; that is the hash family, as in datasketch.
    with np.errstate(over="ignore"):
        permuted = ((hashes[:, None] * _A + _B) % _PRIME) & _MAX_HASH
    minimums: Signature = permuted.min(axis=0).astype(np.uint32)
    return minimums


def similarity(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of the two texts' shingle sets."""
    return float(np.count_nonzero(a == b)) / PERMUTATIONS


def bands(signature: Signature) -> list[str]:
    """One short digest per band; equal digests in one band position make a candidate pair."""
    return [
        hashlib.blake2b(signature[i * ROWS : (i + 1) * ROWS].tobytes(), digest_size=8).hexdigest()
        for i in range(BANDS)
    ]


def to_bytes(signature: Signature) -> bytes:
    return signature.astype("<u4").tobytes()


def from_bytes(raw: bytes) -> Signature:
    return np.frombuffer(raw, dtype="<u4").astype(np.uint32)
