"""A hostile HTTP server and a canary listener on 127.0.0.1, for the fetch stage's defences.

`HostileServer` answers the way the open web sometimes does: compression bombs, endless and
slow bodies, redirect loops, binary served as HTML, wrong charsets, robots.txt in every mode
RFC 9309 names, 429 with Retry-After and 5xx that recover. It records every request it gets
(path and time), so tests can count attempts and measure the gaps between them.

`Canary` only counts the connections it accepts: a fetch that must never reach an internal
address points there, and the test asserts the count stays zero.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import brotli
import zstandard

PAGES = Path(__file__).parent / "fixtures" / "pages"
ARTICLE = (PAGES / "tass-2019-lavrov-rovaniemi.html").read_bytes()
BOMB_SIZE = 32 * 1024 * 1024  # decoded size of every bomb: far over the test caps

RUSSIAN = "Министр иностранных дел России Сергей Лавров провёл переговоры в Рованиеми. " * 8
JAPANESE = "東京で首脳会談が開かれ、両国の外相が協力の拡大について話し合いました。" * 8
CHINESE = "外交部长在芬兰罗瓦涅米与美国国务卿举行会谈，双方讨论了战略稳定问题。" * 8


def page(text: str, head: str = "") -> str:
    return f"<html><head>{head}<title>News</title></head><body><p>{text}</p></body></html>"


@functools.cache
def bomb(encoding: str) -> bytes:
    """`BOMB_SIZE` zero bytes under `encoding` (made once, on first use)."""
    zeros = b"\0" * BOMB_SIZE
    if encoding == "gzip":
        return gzip.compress(zeros, 9)
    if encoding == "deflate":
        return zlib.compress(zeros, 9)
    if encoding == "br":
        return bytes(brotli.compress(zeros, quality=5))
    if encoding == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(zeros)
    if encoding == "gzip, gzip":
        return gzip.compress(gzip.compress(zeros, 9), 9)
    raise ValueError(encoding)


BOMB_ENCODINGS = ("gzip", "deflate", "br", "zstd", "gzip, gzip")
# A bzip2 body is not a content coding newsflow asks for or knows.
UNKNOWN_CODING = bz2.compress(ARTICLE)


@dataclass
class Request:
    path: str
    at: float
    headers: dict[str, str]


@dataclass
class HostileState:
    robots: tuple[int, str] | None = None
    """Status and body of /robots.txt; None answers 404."""
    robots_delay: float = 0.0
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.path == path)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(
        self, code: int, body: bytes, content_type: str = "text/html", **headers: str
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        with suppress(OSError):
            self.wfile.write(body)

    def _redirect(self, location: str, code: int = 302) -> None:
        self.send_response(code)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        with state.lock:
            state.requests.append(Request(self.path, time.monotonic(), dict(self.headers)))
            attempt = sum(1 for r in state.requests if r.path == self.path)
        route = getattr(
            self,
            "route_" + path.strip("/").split("/", 1)[0].replace("-", "_").replace(".", "_"),
            None,
        )
        if route is None:
            self._send(404, b"<html><body>Not found</body></html>")
            return
        route(path, query, attempt)

    # --- ordinary pages -------------------------------------------------------------------

    def route_article(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        self._send(200, ARTICLE, "text/html; charset=utf-8")

    def route_edition(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        """A live page: its text changes with every request, up to edition `last`."""
        edition = min(attempt, int(query.get("last", ["1000"])[0]))
        self._send(200, page(f"Edition {edition}. " + RUSSIAN).encode(), "text/html; charset=utf-8")

    def route_robots_txt(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        state = self.server.state
        if state.robots_delay:
            time.sleep(state.robots_delay)
        if state.robots is None:
            self._send(404, b"no robots here", "text/plain")
            return
        code, body = state.robots
        if 300 <= code < 400:
            self._redirect(body, code)  # the body names where robots.txt moved
            return
        self._send(code, body.encode(), "text/plain")

    def route_delay(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        """The article after `s` seconds."""
        time.sleep(float(query.get("s", ["0.5"])[0]))
        self.route_article(path, query, attempt)

    def route_moved_robots(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        self._send(200, b"User-agent: *\nDisallow: /\n", "text/plain")

    def route_private(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        self._send(200, ARTICLE, "text/html; charset=utf-8")

    # --- bounded work ---------------------------------------------------------------------

    def route_bomb(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        encoding = query.get("encoding", ["gzip"])[0]
        self._send(200, bomb(encoding), "text/html", Content_Encoding=encoding)

    def route_unknown_coding(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        self._send(200, UNKNOWN_CODING, "text/html", Content_Encoding="bzip2")

    def route_gzipped(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        encoding = query.get("encoding", ["gzip"])[0]
        body = {
            "gzip": lambda: gzip.compress(ARTICLE),
            "deflate": lambda: zlib.compress(ARTICLE),
            "br": lambda: bytes(brotli.compress(ARTICLE)),
            "zstd": lambda: zstandard.ZstdCompressor().compress(ARTICLE),
            "zstd, gzip": lambda: gzip.compress(zstandard.ZstdCompressor().compress(ARTICLE)),
        }[encoding]()
        self._send(200, body, "text/html; charset=utf-8", Content_Encoding=encoding)

    def route_big(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        size = int(query.get("size", [str(2 * 1024 * 1024)])[0])
        self._send(200, b"<html><body>" + b"a" * size + b"</body></html>")

    def route_endless(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        """No length, no end: HTML until the client hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"<p>" + b"endless " * 1000 + b"</p>\n"
        with suppress(OSError):
            while True:
                self.wfile.write(chunk)

    def route_slow(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        """A byte at a time, each well within the read timeout: only a deadline stops it."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        with suppress(OSError):
            for _ in range(100000):
                self.wfile.write(b"a")
                self.wfile.flush()
                time.sleep(0.05)

    def route_stall(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        """Headers, then silence."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.flush()
        time.sleep(30)

    def route_loop(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        self._redirect("/loop/b" if path.endswith("/a") else "/loop/a")

    def route_redirect(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        self._redirect(query["to"][0], int(query.get("code", ["302"])[0]))

    def route_binary(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
        self._send(200, png, "text/html; charset=utf-8")

    def route_pdf(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        self._send(200, b"%PDF-1.4 not a news page", "application/pdf")

    # --- charsets -------------------------------------------------------------------------

    def route_charset(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        name = path.rsplit("/", 1)[-1]
        body, content_type = {
            # Labelled UTF-8, written in windows-1251: the label does not fit the bytes.
            "russian-wrong-header": (page(RUSSIAN).encode("cp1251"), "text/html; charset=utf-8"),
            "russian-koi8r-meta": (
                page(RUSSIAN, '<meta charset="koi8-r">').encode("koi8_r"),
                "text/html",
            ),
            "japanese-undeclared": (page(JAPANESE).encode("shift_jis"), "text/html"),
            "japanese-euc-header": (page(JAPANESE).encode("euc_jp"), "text/html; charset=EUC-JP"),
            "chinese-gb2312-meta": (
                page(
                    CHINESE, '<meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
                ).encode("gb18030"),
                "text/html",
            ),
            "chinese-undeclared": (page(CHINESE).encode("gb18030"), "text/html"),
        }[name]
        self._send(200, body, content_type)

    # --- retries --------------------------------------------------------------------------

    def route_busy(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        """429 (or `code`) with Retry-After for the first `n` requests, then the article."""
        failures = int(query.get("n", ["1"])[0])
        if attempt <= failures:
            code = int(query.get("code", ["429"])[0])
            self._send(code, b"slow down", "text/plain", Retry_After=query.get("after", ["1"])[0])
            return
        self.route_article(path, query, attempt)

    def route_flaky(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        """500 for the first `n` requests, then the article."""
        if attempt <= int(query.get("n", ["1"])[0]):
            self._send(500, b"oops", "text/plain")
            return
        self.route_article(path, query, attempt)

    def route_reset(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        """The connection drops before any answer for the first `n` requests."""
        if attempt <= int(query.get("n", ["1"])[0]):
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.route_article(path, query, attempt)

    # --- versions -------------------------------------------------------------------------

    def route_versioned(self, path: str, query: dict[str, list[str]], attempt: int) -> None:
        """ETag and Last-Modified; 304 when the client already has the version."""
        etag = '"v1"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(
            200,
            ARTICLE,
            "text/html; charset=utf-8",
            ETag=etag,
            Last_Modified="Mon, 04 Mar 2019 10:00:00 GMT",
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: HostileState


@dataclass
class HostileServer:
    host: str
    port: int
    state: HostileState

    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.host_port}/{path.lstrip('/')}"


@contextmanager
def hostile_server(host: str = "127.0.0.1") -> Iterator[HostileServer]:
    server = _Server((host, 0), _Handler)
    server.state = HostileState()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield HostileServer(host, server.server_address[1], server.state)
    finally:
        server.shutdown()
        server.server_close()


class Canary:
    """Listens on 127.0.0.1 (and ::1 when it can, same port) and counts connections."""

    def __init__(self) -> None:
        self.connections = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        first = socket.create_server(("127.0.0.1", 0))
        self.port: int = first.getsockname()[1]
        self._sockets.append(first)
        with suppress(OSError):
            self._sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        self._stopped = threading.Event()
        self._threads = [
            threading.Thread(target=self._accept, args=(sock,), daemon=True)
            for sock in self._sockets
        ]
        for thread in self._threads:
            thread.start()

    def _accept(self, sock: socket.socket) -> None:
        sock.settimeout(0.1)
        while not self._stopped.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=2)
        for sock in self._sockets:
            sock.close()


@contextmanager
def canary() -> Iterator[Canary]:
    listener = Canary()
    try:
        yield listener
    finally:
        listener.close()
