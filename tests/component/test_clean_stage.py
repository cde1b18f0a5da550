"""The clean stage against a real Valkey server, extracting in a real child process."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from faststream.redis import RedisBroker
from redis.asyncio import Redis

from services.clean.pool import ExtractionLimits, ExtractionPool, ExtractionTimeout
from services.clean.worker import create_handler, limits_from
from shared.errors import NotAnArticle, PermanentError
from shared.pages import store_html
from shared.schemas import PageFetched
from shared.settings import Settings
from shared.status import StatusStore
from shared.streams import CLEAN, article_key
from shared.worker import StageRunner
from tests.component.helpers import (
    decode_event,
    running,
    text_fields,
    wait_for_entries,
    wait_for_status,
)

pytestmark = pytest.mark.component

PAGES = Path(__file__).parent.parent / "fixtures" / "pages"
TASS = PAGES / "tass-2019-lavrov-rovaniemi.html"
LIMITS = ExtractionLimits(min_chars=250, max_html_chars=5_000_000, max_depth=180)


async def test_pool_extracts_in_a_child_process_and_reports_not_an_article() -> None:
    pool = ExtractionPool(LIMITS, timeout=30, memory_mb=0)
    try:
        article = await pool.extract(TASS.read_text(encoding="utf-8"), "https://tass.com/x")
        assert article.title == "Lavrov confident Putin and Trump will have possibility to meet"
        assert pool.child_pid not in (None, os.getpid())
        with pytest.raises(NotAnArticle, match="page is empty"):
            await pool.extract("  ", None)
    finally:
        await pool.close()
    assert pool.child_pid is None


async def test_page_over_the_time_limit_ends_with_the_reason_and_the_child_is_replaced() -> None:
    html = TASS.read_text(encoding="utf-8")
    # No extraction of a real page answers within a millisecond.
    pool = ExtractionPool(LIMITS, timeout=0.001, memory_mb=0)
    try:
        await pool.start()
        first = pool.child_pid
        with pytest.raises(ExtractionTimeout, match=r"took longer than 0\.001 s"):
            await pool.extract(html, None)
        assert pool.child_pid is None  # killed, not left working on the page
        pool.timeout = 30
        article = await pool.extract(html, None)
        assert "Lavrov" in article.text
        assert pool.child_pid not in (None, first)
    finally:
        await pool.close()


def _address_space_limit(pid: int | None) -> str:
    limits = Path(f"/proc/{pid}/limits").read_text()
    return next(row for row in limits.splitlines() if row.startswith("Max address space"))


@pytest.mark.skipif(sys.platform != "linux", reason="reads the limit from Linux's /proc")
async def test_child_address_space_is_capped() -> None:
    pool = ExtractionPool(LIMITS, timeout=60, memory_mb=300)
    try:
        await pool.start()
        assert str(300 * 1024 * 1024) in _address_space_limit(pool.child_pid)
        # A page whose tree cannot fit ends with the reason; the child serves the next page.
        huge = "<html><body>" + ("<p>" + "word " * 200 + "</p>") * 20_000 + "</body></html>"
        big_limits = ExtractionLimits(250, len(huge), 180)
        pool_for_huge = ExtractionPool(big_limits, timeout=60, memory_mb=150)
        try:
            with pytest.raises(PermanentError, match="needs more than 150 MB"):
                await pool_for_huge.extract(huge, None)
            assert "Lavrov" in (await pool_for_huge.extract(TASS.read_text("utf-8"), None)).text
        finally:
            await pool_for_huge.close()
    finally:
        await pool.close()


async def _queue_page(redis: Redis, settings: Settings, article_id: str, html: str) -> None:
    key, digest = await store_html(redis, html, ttl_seconds=600)
    url = f"https://example.com/{article_id}"
    await StatusStore(redis).submit(article_id, url)
    event = PageFetched(
        article_id=article_id,
        url=url,
        final_url=url,
        status_code=200,
        content_type="text/html",
        html_key=key,
        content_hash=digest,
        size_bytes=len(html),
        fetched_at=datetime.now(UTC),
    )
    async with RedisBroker(settings.redis_url) as producer:
        await producer.publish(event, stream=CLEAN.reads)


async def test_stage_cleans_skips_and_fails_with_reasons(redis: Redis, settings: Settings) -> None:
    await _queue_page(redis, settings, "good", TASS.read_text(encoding="utf-8"))
    await _queue_page(redis, settings, "empty", "<html><body><p>Page moved.</p></body></html>")
    deep = "<html><body>" + "<div>" * 200 + "<p>text</p>" + "</div>" * 200 + "</body></html>"
    await _queue_page(redis, settings, "deep", deep)
    runner = StageRunner(CLEAN, settings, create_handler(settings))
    async with running(runner):
        (entry,) = await wait_for_entries(redis, CLEAN.writes, 1)
        skipped = await wait_for_status(redis, article_key("empty"), {"skipped"})
        deep_status = await wait_for_status(redis, article_key("deep"), {"skipped"})
    body, _ = decode_event(entry)
    content = body["content"]
    assert body["article_id"] == "good"
    assert content["language"] == "en"
    assert content["modified"] == "2019-05-06"
    assert content["canonical_url"] == "https://tass.com/politics/1057227"
    assert "{{" not in content["text"]
    assert skipped["reason"].startswith("too little text for an article")
    assert deep_status["reason"] == "page nests elements deeper than 180 levels"
    assert limits_from(settings).max_depth == settings.clean_max_depth == 180


async def test_stage_dead_letters_a_page_over_the_time_limit(
    redis: Redis, settings: Settings
) -> None:
    settings = settings.model_copy(update={"clean_timeout_seconds": 0.001})
    await _queue_page(redis, settings, "slow", TASS.read_text(encoding="utf-8"))
    runner = StageRunner(CLEAN, settings, create_handler(settings))
    async with running(runner):
        status = await wait_for_status(redis, article_key("slow"), {"failed"})
        (dead,) = await wait_for_entries(redis, CLEAN.dead_letters, 1)
    assert status["error_stage"] == "clean"
    assert status["error_reason"] == "cleaning the page took longer than 0.001 s"
    fields = text_fields(dead)
    assert fields["reason"] == "cleaning the page took longer than 0.001 s"
    assert fields["article_id"] == "slow"
