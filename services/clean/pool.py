"""Extraction in a child process, with a time limit and a memory cap per page.

trafilatura has no timeout of its own, and a thread cannot be stopped: a page that takes
too long would hold the worker forever. Each clean worker keeps one child process that
does the extraction; when a page overruns `timeout` the child is killed and replaced, and
the page ends with the reason. The child's address space is capped (`memory_mb`), so a page
that would exhaust memory fails with a reason instead of taking the machine with it (where
the system enforces the cap: Linux does).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import resource
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from services.clean.extraction import CleanArticle, extract_article
from shared.errors import NotAnArticle, PermanentError

_READY = "ready"
_START_TIMEOUT = 120.0
"""Seconds a new child may take to import its libraries before it counts as broken."""


class ExtractionTimeout(PermanentError):
    """Cleaning the page took longer than the time limit."""


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    min_chars: int
    max_html_chars: int
    max_depth: int


def _serve(conn: Connection, memory_mb: int) -> None:
    """The child: extract pages sent over `conn` until it is closed."""
    if memory_mb:
        cap = memory_mb * 1024 * 1024
        # Where the system refuses the cap (macOS), pages are still bounded in time.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    conn.send(_READY)
    while True:
        try:
            html, url, limits = conn.recv()
        except EOFError:
            return
        reply: tuple[str, Any]
        try:
            article = extract_article(
                html,
                url,
                min_chars=limits.min_chars,
                max_html_chars=limits.max_html_chars,
                max_depth=limits.max_depth,
            )
            reply = ("article", article)
        except NotAnArticle as exc:
            reply = ("not an article", exc.reason)
        except MemoryError:
            reply = ("failed", f"cleaning the page needs more than {memory_mb} MB")
        except RecursionError:
            reply = ("failed", "page nests too deeply to clean")
        except Exception as exc:  # noqa: BLE001 - the page's fault; the child serves on
            reply = ("failed", f"cleaning the page failed: {type(exc).__name__}: {exc}")
        del html
        conn.send(reply)


class ExtractionPool:
    """`extract_article` in a child process, one page at a time, each within `timeout`."""

    def __init__(self, limits: ExtractionLimits, *, timeout: float, memory_mb: int) -> None:
        self._limits = limits
        self.timeout = timeout
        """Seconds one page may take; the next page is held to a changed value."""
        self._memory_mb = memory_mb
        self._context = multiprocessing.get_context("spawn")
        self._child: BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            await self._ensure_child()

    async def close(self) -> None:
        async with self._lock:
            self._stop_child()

    async def extract(self, html: str, url: str | None) -> CleanArticle:
        async with self._lock:
            conn = await self._ensure_child()
            try:
                conn.send((html, url, self._limits))
                ready = await asyncio.to_thread(conn.poll, self.timeout)
                if not ready:
                    self._stop_child()
                    raise ExtractionTimeout(
                        f"cleaning the page took longer than {self.timeout:g} s"
                    )
                kind, value = conn.recv()
            except (EOFError, OSError) as exc:
                code = self._child.exitcode if self._child else None
                self._stop_child()
                raise PermanentError(f"cleaning the page crashed (exit code {code})") from exc
            except BaseException:
                # Cancelled mid-page: the child's answer would be read for the next page.
                self._stop_child()
                raise
        if kind == "article":
            assert isinstance(value, CleanArticle)
            return value
        if kind == "not an article":
            raise NotAnArticle(str(value))
        raise PermanentError(str(value))

    @property
    def child_pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    async def _ensure_child(self) -> Connection:
        if self._child is not None and self._conn is not None and self._child.is_alive():
            return self._conn
        self._stop_child()
        parent, child_end = self._context.Pipe()
        child = self._context.Process(
            target=_serve, args=(child_end, self._memory_mb), name="newsflow-clean", daemon=True
        )
        child.start()
        child_end.close()
        self._child, self._conn = child, parent
        try:
            started = await asyncio.to_thread(parent.poll, _START_TIMEOUT)
            if not started or parent.recv() != _READY:
                raise RuntimeError("the extraction process did not start")
        except (EOFError, OSError, RuntimeError) as exc:
            self._stop_child()
            raise RuntimeError(f"the extraction process did not start: {exc}") from exc
        return parent

    def _stop_child(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._child is not None:
            if self._child.is_alive():
                self._child.kill()
            self._child.join(5)
        self._child = self._conn = None
