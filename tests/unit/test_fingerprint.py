"""services.extract.fingerprint: MinHash estimates shingle similarity; LSH bands pair copies."""

from __future__ import annotations

import random

import pytest

from services.extract.fingerprint import bands, fingerprint, from_bytes, similarity, to_bytes

pytestmark = pytest.mark.unit

WORDS = [
    *("minister", "talks", "summit", "president", "agreement", "sanctions", "election"),
    *("economy", "trade", "border", "meeting", "statement", "security", "cooperation"),
    *("parliament", "government", "crisis", "energy", "market", "military"),
]


def _text(seed: int, length: int = 400) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(length))


def test_a_copy_with_small_edits_is_nearly_the_same() -> None:
    original = _text(1)
    words = original.split()
    edited = " ".join(["MOSCOW", "(Reuters)", "-", *words[:200], "reportedly", *words[200:]])
    score = similarity(fingerprint(original), fingerprint(edited))
    assert score >= 0.85
    assert set(bands(fingerprint(original))) & set(bands(fingerprint(edited)))


def test_unrelated_texts_are_far_apart_and_share_no_band() -> None:
    a, b = fingerprint(_text(1)), fingerprint(_text(2))
    assert similarity(a, b) < 0.2
    assert not set(bands(a)) & set(bands(b))


def test_estimate_tracks_the_true_jaccard_similarity() -> None:
    words = _text(3, 600).split()
    half = " ".join(words[:300])
    whole = " ".join(words)
    # 296 of the whole text's 596 shingles are the half's: true Jaccard about 0.50.
    assert 0.35 <= similarity(fingerprint(half), fingerprint(whole)) <= 0.65


def test_signature_round_trips_through_bytes_and_is_stable() -> None:
    signature = fingerprint(_text(4))
    assert (from_bytes(to_bytes(signature)) == signature).all()
    assert (fingerprint(_text(4)) == signature).all()
    assert similarity(fingerprint(""), fingerprint("")) == 1.0
