"""Delivery through the stage frame, against a real server: poison entries end dead-lettered
after the set attempts, good entries flow past them, nothing stays pending."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from shared.schemas import UrlSubmitted
from shared.settings import Settings
from shared.status import ArticleStatus, StatusStore
from shared.streams import Stage, article_key
from shared.worker import StageRunner
from tests.component.helpers import (
    ProbeHandler,
    running,
    text_fields,
    wait_for_entries,
    wait_for_status,
)

pytestmark = pytest.mark.component

PROBE = Stage("probe", reads="test:probe:in", writes="test:probe:out")


def _event(ident: str, url: str) -> UrlSubmitted:
    return UrlSubmitted(article_id=ident, url=url, submitted_at=datetime.now(UTC))


async def test_poison_entries_are_dead_lettered_and_good_ones_pass(
    redis: Redis, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    handler = ProbeHandler()
    runner = StageRunner(PROBE, settings, handler)
    status = StatusStore(redis)
    for ident in ("good-1", "always-fails", "good-2"):
        await status.submit(ident, f"http://example.com/{ident}")
    async with running(runner):
        await runner.broker.publish(_event("good-1", "http://example.com/1"), stream=PROBE.reads)
        await runner.broker.publish(
            _event("always-fails", "http://example.com/fail"), stream=PROBE.reads
        )
        await redis.xadd(
            PROBE.reads,
            {"article_id": "wrong-schema", "url": "http://x/", "schema_version": "9"},
        )
        await redis.xadd(PROBE.reads, {"raw": b"\xff\xfe\x00 not utf-8"})
        await runner.broker.publish(_event("good-2", "http://example.com/2"), stream=PROBE.reads)

        passed = await wait_for_entries(redis, PROBE.writes, 2)
        # The failing entry is retried by the reclaimer until max_deliveries, then dead-lettered.
        failed = await wait_for_status(redis, article_key("always-fails"), {"failed"}, timeout=30)
        dead = [text_fields(f) for f in await wait_for_entries(redis, PROBE.dead_letters, 3)]

    assert len(passed) == 2
    assert handler.calls["always-fails"] == settings.max_deliveries
    assert "the probe always fails" in failed["error_reason"]
    assert f"after {settings.max_deliveries} attempts" in failed["error_reason"]
    by_reason = {d["article_id"] or d["error"]: d for d in dead}
    assert "event does not match the schema" in by_reason["wrong-schema"]["reason"]
    assert "schema_version" in by_reason["wrong-schema"]["reason"]
    unparseable = [d for d in dead if "cannot be decoded" in d["reason"]]
    assert len(unparseable) == 1
    assert "not utf-8" in unparseable[0]["payload"]
    assert all(d["stage"] == "probe" for d in dead)
    pending = await redis.xpending(PROBE.reads, PROBE.group)
    assert pending["pending"] == 0
    # Each retry is one warning line from the stage, not an error with a traceback.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_status_only_moves_forward(redis: Redis) -> None:
    status = StatusStore(redis)
    assert await status.submit("a1", "http://example.com/a")
    assert not await status.submit("a1", "http://example.com/a")
    assert await status.advance("a1", ArticleStatus.CLEANED, stage="clean", elapsed_ms=3.0)
    # A late, re-delivered fetch does not move it back, but its timing is kept.
    assert not await status.advance("a1", ArticleStatus.FETCHED, stage="fetch", elapsed_ms=5.0)
    fields = await status.get("a1")
    assert fields is not None
    assert fields["status"] == "cleaned"
    assert fields["fetch_ms"] == "5.0"
    assert await status.advance("a1", ArticleStatus.INDEXED)
    # Terminal is final: neither a failure nor any field lands after it.
    assert not await status.advance("a1", ArticleStatus.FAILED, error_reason="late")
    fields = await status.get("a1")
    assert fields is not None
    assert fields["status"] == "indexed"
    assert "error_reason" not in fields
    # Only an explicit re-submission starts over.
    assert await status.submit("a1", "http://example.com/a", replace=True)
    fields = await status.get("a1")
    assert fields is not None
    assert fields["status"] == "queued"
