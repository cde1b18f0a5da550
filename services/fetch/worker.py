"""The fetch stage: URL in, page HTML stored (claim check), `PageFetched` out."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from faststream import FastStream
from opentelemetry import trace
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from services.fetch.fetcher import FetchedPage, NotModified, Validators, build_client, fetch_page
from services.fetch.guard import host_port
from services.fetch.parking import ParkingLot
from services.fetch.politeness import HostBusy, HostSlots
from services.fetch.robots import Robots
from shared.errors import NotAnArticle, PermanentError, RetryableError
from shared.pages import store_html
from shared.redis_values import as_text
from shared.schemas import PageFetched, UrlSubmitted
from shared.settings import Settings
from shared.status import ArticleStatus
from shared.streams import FETCH as STAGE
from shared.streams import fetch_lease_key, validators_key
from shared.telemetry import current_trace_id
from shared.urls import article_id, canonical_url
from shared.worker import BaseStageHandler, Outcome, StageContext, StageRunner

log = structlog.get_logger("newsflow.fetch")


def parse_ingest_entry(body: Any) -> UrlSubmitted:
    """Accept the API's `UrlSubmitted` or a plain `XADD newsflow:ingest * url <URL>` entry."""
    if not isinstance(body, dict):
        raise PermanentError("ingest entry must have fields, e.g. `url <URL>`")
    if "article_id" in body:
        return UrlSubmitted.model_validate(body)
    url = body.get("url")
    if not isinstance(url, str):
        raise PermanentError("plain ingest entry needs a `url` field")
    canonical = canonical_url(url)
    force = str(body.get("force", "")).lower() in {"1", "true", "yes"}
    return UrlSubmitted(
        article_id=article_id(canonical),
        url=canonical,
        force=force,
        submitted_at=datetime.now(UTC),
    )


# KEYS[1] lease; ARGV[1] the holder's token: only the holder releases it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class PageUnchanged(NotAnArticle):
    """A forced re-fetch found the page as it was: nothing new flows downstream."""


# A forced re-fetch of an article whose last run got this far (its page passed on, or
# indexed) may stop at an unchanged page. After one that failed or was skipped, the page
# flows downstream again: forcing is how a user retries it.
_EARLIER_RUN_STANDS = frozenset(
    {ArticleStatus.FETCHED, ArticleStatus.CLEANED, ArticleStatus.EXTRACTED, ArticleStatus.INDEXED}
)


PARKED_MOVER_EVERY = 0.2  # seconds between looks for parked URLs that are due
ATTEMPTS_TTL = 24 * 3600  # seconds an article's count of failed fetch attempts is kept


async def load_validators(redis: Redis, article_id: str) -> dict[str, str]:
    raw = await redis.hgetall(validators_key(article_id))
    return {as_text(k): as_text(v) for k, v in raw.items()}


async def save_validators(
    redis: Redis, article_id: str, page: FetchedPage, *, digest: str, submission: str, ttl: int
) -> None:
    fields = {
        "etag": page.validators.etag or "",
        "last_modified": page.validators.last_modified or "",
        "content_hash": digest,
        "submission": submission,
    }
    key = validators_key(article_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        pipe.hset(key, items=[v for pair in fields.items() for v in pair])
        pipe.expire(key, ttl)
        await pipe.execute()


class FetchHandler(BaseStageHandler[UrlSubmitted]):
    event_type = UrlSubmitted
    done = ArticleStatus.FETCHED

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.concurrency = settings.fetch_concurrency
        self._client: httpx.AsyncClient | None = None
        self._slots: HostSlots | None = None
        self._robots: Robots | None = None
        self._parking: ParkingLot | None = None
        self._mover: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._release: AsyncScript

    def parse(self, body: Any) -> UrlSubmitted:
        return parse_ingest_entry(body)

    async def start(self, ctx: StageContext) -> None:
        self._release = ctx.redis.register_script(_RELEASE)
        self._client = build_client(self._settings)
        # Only as many tasks wait for a host as it can take within fetch_host_wait; the
        # host's other URLs are parked meanwhile.
        self._slots = HostSlots(
            ctx.redis, hold=self._settings.fetch_total_timeout, short_queues=True
        )
        if self._settings.fetch_robots:
            self._robots = Robots(ctx.redis, self._client, self._slots, self._settings)
        self._parking = ParkingLot(ctx.redis)
        self._stopping.clear()
        self._mover = asyncio.create_task(
            self._parking.run_mover(PARKED_MOVER_EVERY, self._stopping)
        )

    async def stop(self) -> None:
        if self._mover is not None:
            self._stopping.set()
            try:
                await asyncio.wait_for(self._mover, timeout=5)
            except TimeoutError:  # wait_for has cancelled it
                log.warning("the parked-URL mover did not stop in time")
        if self._client is not None:
            await self._client.aclose()

    async def handle(self, event: UrlSubmitted, ctx: StageContext) -> Outcome | None:
        assert self._client is not None
        # Duplicates of one article in flight at once (two spellings, two replicas, a parked
        # copy and a redelivery): one fetches, the others step aside. The lease outlives
        # success on purpose, until the status has moved on; a failure releases it for the
        # redelivery.
        lease = fetch_lease_key(event.article_id)
        token = uuid.uuid4().hex
        if not await ctx.redis.set(lease, token, nx=True, px=self._settings.claim_idle_ms):
            if event.force:
                remaining_ms = await ctx.redis.pttl(lease)
                raise RetryableError(
                    "the article is being fetched already; trying again later",
                    retry_after=max(remaining_ms, 100) / 1000,
                )
            log.info("being fetched already")
            return None
        # Read once the lease is held, so a duplicate that finished meanwhile shows as known.
        # A plain XADD entry has no status yet; an API entry has one already.
        status = await ctx.status.ensure(event.article_id, event.url, trace_id=current_trace_id())
        if status != ArticleStatus.QUEUED and not event.force:
            await self._release(keys=[lease], args=[token])
            log.info("already known", status=status)
            return None
        earlier = await self._earlier_run(event, status, ctx)
        try:
            return await self._fetch(event, ctx, conditional=earlier is not None)
        except PageUnchanged as exc:
            assert earlier is not None
            # The earlier run's outcome stands: a status the API started over for this
            # re-fetch moves (forward) to where that run got; one still recording it stays.
            await ctx.status.advance(event.article_id, earlier, refetch=exc.reason)
            log.info("unchanged", reason=exc.reason, status=earlier)
            return None
        except RetryableError as exc:
            await self._release(keys=[lease], args=[token])
            if await self._park(event, exc, ctx):
                return None
            raise
        except BaseException:
            await self._release(keys=[lease], args=[token])
            raise

    @staticmethod
    async def _earlier_run(
        event: UrlSubmitted, status: str, ctx: StageContext
    ) -> ArticleStatus | None:
        """For a forced re-fetch, how far the last run got, if far enough to stand.

        The status itself when it still records that run (a plain `XADD … force 1`), else
        the `previous_status` the API noted when it started the status over.
        """
        if not event.force:
            return None
        if status == ArticleStatus.QUEUED:
            fields = await ctx.status.get(event.article_id) or {}
            status = fields.get("previous_status", "")
        return next((s for s in _EARLIER_RUN_STANDS if s == status), None)

    async def _park(self, event: UrlSubmitted, exc: RetryableError, ctx: StageContext) -> bool:
        """Park the URL instead of waiting or spending a delivery; False to leave `exc` to
        the stage's redelivery.

        A busy host is politeness, not a fault: parking it again and again is not counted.
        Every other failed attempt is counted per article, redeliveries and parked waits
        alike (a server's wait longer than the redelivery can honour, `claim_idle_ms`, is
        parked), so a URL gives up after `max_deliveries` attempts however they were spent.
        """
        assert self._parking is not None
        settings = self._settings
        if isinstance(exc, HostBusy):
            host, interval = exc.host, exc.interval
            wait = max(exc.retry_after or 0.0, interval)
        else:
            attempts = await self._parking.count_attempt(event.article_id, ttl=ATTEMPTS_TTL)
            if attempts >= settings.max_deliveries:
                await self._parking.forget(event)
                raise PermanentError(f"{exc.reason} (gave up after {attempts} attempts)") from exc
            if exc.retry_after is None or exc.retry_after * 1000 < settings.claim_idle_ms:
                return False
            host, interval = host_port(event.url)[0], settings.fetch_host_interval
            wait = exc.retry_after
        due = await self._parking.park(event, host=host, wait=wait, interval=interval)
        # Still queued, and the status says why and until when (it moves only forward).
        await ctx.status.advance(
            event.article_id,
            ArticleStatus.QUEUED,
            waiting_reason=exc.reason,
            waiting_until=round(time.time() + due, 3),
        )
        trace.get_current_span().add_event(
            "parked", {"newsflow.reason": exc.reason, "newsflow.due_seconds": due}
        )
        log.debug("parked", host=host, due_seconds=round(due, 3), reason=exc.reason)
        return True

    async def _fetch(self, event: UrlSubmitted, ctx: StageContext, *, conditional: bool) -> Outcome:
        """`conditional`: ask with the last fetch's validators, and stop at an unchanged page."""
        assert self._client is not None
        submission = event.submitted_at.isoformat()
        previous = await load_validators(ctx.redis, event.article_id) if conditional else {}
        # A redelivery of the submission that stored these validators must not be told
        # "unchanged": its page may never have been passed on.
        if previous.get("submission") == submission:
            previous = {}
        validators = (
            Validators(previous.get("etag") or None, previous.get("last_modified") or None)
            if previous
            else None
        )
        limit = self._settings.fetch_delivery_timeout
        try:
            # Bounded so the reclaimer never hands a URL still being worked on to another
            # consumer (claim_idle_ms is longer). The deadline stops retries too, should the
            # timeout's cancellation be lost (see `fetch_page`).
            async with asyncio.timeout(limit):
                page = await fetch_page(
                    event.url,
                    self._client,
                    self._settings,
                    robots=self._robots,
                    slots=self._slots,
                    validators=validators,
                    host_wait=self._settings.fetch_host_wait,
                    deadline=time.monotonic() + limit,
                )
        except TimeoutError as exc:
            raise RetryableError(
                f"fetching took, or would take, longer than {limit:g} s in one attempt (waits"
                " included)"
            ) from exc
        if self._parking is not None:  # fetched: no parked copy, no count of attempts
            await self._parking.forget(event)
        if isinstance(page, NotModified):
            raise PageUnchanged("page unchanged since the last fetch (HTTP 304 Not Modified)")
        key, digest = await store_html(
            ctx.redis, page.html, ttl_seconds=self._settings.html_ttl_seconds
        )
        if previous.get("content_hash") == digest:
            raise PageUnchanged("page unchanged since the last fetch (same content)")
        fetched = PageFetched(
            article_id=event.article_id,
            url=event.url,
            final_url=page.final_url,
            status_code=page.status_code,
            content_type=page.content_type,
            html_key=key,
            content_hash=digest,
            size_bytes=page.size_bytes,
            fetched_at=datetime.now(UTC),
        )
        # Saved only once the page is passed on: saved before, a crash in between would have
        # a redelivery (a plain entry is a new submission each time) find the page
        # "unchanged" and never pass it on.
        return Outcome(
            fetched,
            {"content_hash": digest, "size_bytes": page.size_bytes},
            published=functools.partial(
                save_validators,
                ctx.redis,
                event.article_id,
                page,
                digest=digest,
                submission=submission,
                ttl=self._settings.html_ttl_seconds,
            ),
        )


def create_handler(settings: Settings) -> FetchHandler:
    return FetchHandler(settings)


def create_app(settings: Settings) -> FastStream:
    """The stage as a FastStream app, e.g. for `faststream run --factory`."""
    return StageRunner(STAGE, settings, create_handler(settings)).app()
