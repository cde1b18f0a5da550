"""services.fetch.decoding: content codings undone in bounded steps, binary refused."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import brotli
import pytest
import zstandard

from services.fetch.decoding import content_codings, decode_content, reject_binary
from shared.errors import NotAnArticle, PermanentError

pytestmark = pytest.mark.unit

PAGE = (
    "<html><body>" + "<p>Lavrov and Pompeo met in Rovaniemi.</p>" * 200 + "</body></html>"
).encode()
MB = 1024 * 1024


def _encode(data: bytes, coding: str) -> bytes:
    return {
        "gzip": lambda: gzip.compress(data, 9),
        "deflate": lambda: zlib.compress(data, 9),
        "raw-deflate": lambda: zlib.compress(data, 9)[2:-4],
        "br": lambda: bytes(brotli.compress(data, quality=1)),
        "zstd": lambda: zstandard.ZstdCompressor().compress(data),
    }[coding]()


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_each_coding_round_trips(coding: str) -> None:
    assert decode_content([_encode(PAGE, coding)], coding, MB) == PAGE


def test_raw_deflate_is_accepted_as_deflate() -> None:
    assert decode_content([_encode(PAGE, "raw-deflate")], "deflate", MB) == PAGE


def test_stacked_codings_are_undone_last_first() -> None:
    body = gzip.compress(_encode(PAGE, "zstd"))
    assert decode_content([body], "zstd, gzip", MB) == PAGE
    assert decode_content([_encode(PAGE, "br")], "identity, br", MB) == PAGE


def test_no_coding_passes_bytes_through_in_pieces() -> None:
    assert decode_content([PAGE[:10], b"", PAGE[10:]], None, MB) == PAGE


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_a_bomb_is_stopped_as_soon_as_it_passes_the_cap(coding: str) -> None:
    bomb = _encode(b"\0" * (32 * MB), coding)
    tracemalloc.start()
    try:
        with pytest.raises(PermanentError, match="body over 1 MB once decoded"):
            decode_content([bomb], coding, MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Decoded in small steps: memory never came near the bomb's 32 MB.
    assert peak < 4 * MB


def test_a_stacked_bomb_is_stopped_too() -> None:
    bomb = gzip.compress(gzip.compress(b"\0" * (32 * MB), 9), 9)
    with pytest.raises(PermanentError, match="once decoded"):
        decode_content([bomb], "gzip, gzip", MB)


def test_truncate_keeps_the_first_bytes_instead_of_failing() -> None:
    bomb = _encode(b"x" * (8 * MB), "gzip")
    assert decode_content([bomb], "gzip", 1024, truncate=True) == b"x" * 1024


def test_unknown_coding_is_refused_by_name() -> None:
    with pytest.raises(PermanentError, match="content encoding 'bzip2' is not supported"):
        content_codings("gzip, bzip2")


def test_corrupt_body_names_its_coding() -> None:
    with pytest.raises(PermanentError, match="body is not valid gzip"):
        decode_content([b"\x1f\x8b\x08\x00garbage" * 10], "gzip", MB)


@pytest.mark.parametrize(
    "body",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(64)),
        b"%PDF-1.7\n%binary",
        b"PK\x03\x04zipfile",
        b"\x7fELF\x02\x01",
        b"<html>\x00\x01\x02\x03</html>",
    ],
)
def test_binary_served_as_html_is_not_an_article(body: bytes) -> None:
    with pytest.raises(NotAnArticle, match="binary"):
        reject_binary(body)


def test_text_and_utf16_with_bom_are_not_binary() -> None:
    reject_binary(PAGE)
    reject_binary(b"\xff\xfe" + "<html>Лавров</html>".encode("utf-16-le"))
