"""The index stage writes to SQLite on its event loop when nobody else holds the write lock,
and on a thread (waiting for the lock) when someone does. Real files, real second writer."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from services.index.batching import BatchWriter
from shared.search.sqlite import BUSY_TIMEOUT_S, SQLiteIndex
from tests.component.helpers import extracted_article

pytestmark = pytest.mark.component


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "index.db"


@pytest.fixture
def index(path: Path) -> Iterator[SQLiteIndex]:
    with closing(SQLiteIndex(path)) as store:
        yield store


@pytest.fixture
def other_writer(path: Path, index: SQLiteIndex) -> Iterator[sqlite3.Connection]:
    """A second connection to the same file holding the write lock until it commits."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")
        conn.close()


def _busy_timeout_ms(index: SQLiteIndex) -> int:
    (value,) = index._db.execute("PRAGMA busy_timeout").fetchone()
    return int(value)


def test_a_write_with_nobody_else_writing_is_done_at_once(index: SQLiteIndex) -> None:
    first, second = extracted_article(1), extracted_article(2)
    assert index.upsert_many_now([first, second]) == [1, 1]
    assert index.upsert_many_now([first]) == [1]  # unchanged: same revision
    assert index.upsert_many_now([extracted_article(1)]) == [2]  # extracted again: a new revision
    assert index.count() == 2
    assert _busy_timeout_ms(index) == int(BUSY_TIMEOUT_S * 1000)


def test_a_write_that_would_wait_for_the_lock_is_refused_untouched(
    index: SQLiteIndex, other_writer: sqlite3.Connection
) -> None:
    started = time.monotonic()
    assert index.upsert_many_now([extracted_article(1)]) is None
    assert time.monotonic() - started < BUSY_TIMEOUT_S / 3  # did not wait out the lock
    other_writer.execute("COMMIT")
    assert index.count() == 0
    assert _busy_timeout_ms(index) == int(BUSY_TIMEOUT_S * 1000)  # waiting writes wait again
    assert index.upsert_many_now([extracted_article(1)]) == [1]


async def test_the_batch_writer_waits_for_the_lock_on_a_thread(
    index: SQLiteIndex, other_writer: sqlite3.Connection
) -> None:
    """The event loop keeps turning while the batch waits for the other writer."""
    writer = BatchWriter(index, max_batch=8)
    pending = asyncio.gather(*(writer.upsert(extracted_article(n)) for n in range(3)))
    turns = 0
    for _ in range(20):
        await asyncio.sleep(0.01)
        turns += 1
    assert not pending.done()
    other_writer.execute("COMMIT")
    assert await asyncio.wait_for(pending, timeout=10) == [1, 1, 1]
    assert turns == 20
    assert writer.batches == 1
    assert index.count() == 3
