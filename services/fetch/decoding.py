"""From bytes on the wire to page text, with the decoded size bounded at every step.

Content codings (gzip, deflate, br, zstd, stacked in any order) are undone in chunks of at
most `CHUNK` bytes, so a compression bomb is stopped as soon as it passes the cap instead of
after it has filled memory. Text is decoded by BOM, the header's charset, `<meta charset>`,
then detection.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from email.message import Message
from typing import IO, cast

import brotli
import charset_normalizer
import zstandard

from shared.errors import NotAnArticle, PermanentError

CHUNK = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate, br, zstd"
# zstd frames may ask for a window of up to 2 GB; pages never need more than this.
_ZSTD_MAX_WINDOW = 8 * 1024 * 1024

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# Labels whose WHATWG meaning is a superset of what Python's codec of the same name reads.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "tis-620": "cp874",
    "iso-8859-9": "cp1254",
}
# Signatures of common binary formats that servers mislabel as text/html.
_BINARY_SIGNATURES = (
    b"%PDF-",
    b"\x89PNG",
    b"GIF87a",
    b"GIF89a",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"\x7fELF",
    b"RIFF",
    b"\x00\x00\x01\x00",
    b"OggS",
    b"ID3",
    b"\x28\xb5\x2f\xfd",
    b"MZ",
)


def megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


class _Reader:
    """A file-like view of an iterator of chunks (zstandard reads from one)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _zlib(chunks: Iterator[bytes], wbits: int) -> Iterator[bytes]:
    decoder = zlib.decompressobj(wbits)
    for data in chunks:
        pending = data
        while True:
            out = decoder.decompress(pending, CHUNK)
            pending = decoder.unconsumed_tail
            if out:
                yield out
            if decoder.eof or (not pending and len(out) < CHUNK):
                break
        if decoder.eof:
            return


def _gzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    return _zlib(chunks, 16 + zlib.MAX_WBITS)


def _deflate(chunks: Iterator[bytes]) -> Iterator[bytes]:
    # "deflate" should be zlib-wrapped, but many servers send raw deflate.
    first = next(chunks, b"")
    raw = len(first) >= 2 and (first[0] & 0x0F != 8 or (first[0] << 8 | first[1]) % 31 != 0)
    return _zlib(_prepend(first, chunks), -zlib.MAX_WBITS if raw else zlib.MAX_WBITS)


def _brotli(chunks: Iterator[bytes]) -> Iterator[bytes]:
    decoder = brotli.Decompressor()
    for data in chunks:
        out = decoder.process(data, output_buffer_limit=CHUNK)
        if out:
            yield out
        while not decoder.can_accept_more_data():
            yield decoder.process(b"", output_buffer_limit=CHUNK)


def _zstd(chunks: Iterator[bytes]) -> Iterator[bytes]:
    decoder = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
    reader = cast(IO[bytes], _Reader(chunks))
    yield from decoder.read_to_iter(reader, read_size=CHUNK, write_size=CHUNK)


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


_DECODERS: dict[str, Callable[[Iterator[bytes]], Iterator[bytes]]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
}


def _capped(chunks: Iterator[bytes], limit: int, *, truncate: bool) -> Iterator[bytes]:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            if truncate:
                yield chunk[: len(chunk) - (size - limit)]
                return
            raise PermanentError(f"body over {megabytes(limit)} once decoded")
        yield chunk


def content_codings(header: str | None) -> list[str]:
    """The codings applied to a body, first applied first; unknown ones are refused."""
    codings = [c.strip().lower() for c in (header or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    for coding in codings:
        if coding not in _DECODERS:
            raise PermanentError(f"content encoding {coding!r} is not supported")
    return codings


def decode_content(
    raw: Iterable[bytes], content_encoding: str | None, limit: int, *, truncate: bool = False
) -> bytes:
    """Undo the body's content codings, stopping as soon as any layer passes `limit`.

    Past the limit: `PermanentError`, or with `truncate` the first `limit` bytes.
    """
    chunks: Iterator[bytes] = (piece for piece in raw if piece)
    for coding in reversed(content_codings(content_encoding)):
        chunks = _capped(_DECODERS[coding](chunks), limit, truncate=truncate)
    chunks = _capped(chunks, limit, truncate=truncate)
    try:
        return b"".join(chunks)
    except (zlib.error, brotli.error, zstandard.ZstdError) as exc:
        raise PermanentError(f"body is not valid {content_encoding}: {exc}") from exc


def reject_binary(body: bytes) -> None:
    """`NotAnArticle` for a body that is plainly not text, whatever its content type said."""
    head = body[:1024].lstrip()
    if head.startswith(_BINARY_SIGNATURES):
        raise NotAnArticle("body is binary data served as HTML")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return  # UTF-16 with a BOM has NULs by design
    if b"\x00" in head:
        raise NotAnArticle("body is binary data served as HTML")


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    return _CHARSET_ALIASES.get(name, name)


def _charset_from_header(header: str | None) -> str | None:
    if not header:
        return None
    message = Message()
    message["content-type"] = header
    charset = message.get_param("charset")
    return charset if isinstance(charset, str) else None


def _meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:4096])
    if match is None:
        return None
    label = match.group(1).decode("ascii")
    # A UTF-16 label in bytes that could be read as ASCII to find it is wrong (WHATWG).
    return "utf-8" if label.lower().startswith("utf-16") else label


def _strict(body: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        return body.decode(codec)
    except (LookupError, UnicodeDecodeError):
        return None


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode by BOM, then the header's charset, then `<meta charset>`, then detection.

    A declaration the bytes do not fit (a Russian cp1251 page labelled UTF-8) is passed
    over for the next source instead of turning the text into replacement characters.
    """
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, "replace")
    header = _codec(_charset_from_header(content_type))
    meta = _codec(_meta_charset(body))
    for candidate in (header, meta, "utf-8"):
        text = _strict(body, candidate)
        if text is not None:
            return text
    best = charset_normalizer.from_bytes(body).best()
    if best is not None:
        return str(best)
    for fallback in (header, meta):
        try:
            return body.decode(fallback or "utf-8", "replace")
        except LookupError:
            continue
    return body.decode("utf-8", "replace")
