"""The frame every stage runs in: read a stream through a group, do the work, pass it on.

A stage supplies a `StageHandler`: how to parse its input event, the work (a plain async
function that knows nothing of brokers), and the status the article reaches when the work
is done. This module owns delivery:

- a reader (XREADGROUP, `max_records` set) and a reclaimer (XAUTOCLAIM of entries idle
  longer than `claim_idle_ms`) share one handler; on a quiet stream both look rarely
  (`READ_BLOCK_MS`, `reclaim_interval_ms`), so an idle stage costs next to no CPU; while
  the stage keeps up, its reads start its `read_linger_ms` apart (`space_reads`), so entries
  arriving one by one are handled a few at a time;
- the next event is published from inside the handler, so its trace continues this one,
  in one transaction with the status move and the acknowledgement (one round trip; in a
  stage handling entries concurrently, one for all the entries that finish together);
- `RetryableError` and unexpected errors leave the entry pending (the reclaimer retries it)
  until `max_deliveries`, then it is dead-lettered; each attempt logs one warning line;
- `PermanentError` dead-letters at once; `NotAnArticle` ends the article `skipped`;
- a dead letter is written before the entry is acked, so nothing is lost between the two;
- the handler acknowledges entries itself, in the same Lua step that moves the article's
  status; an entry it does not acknowledge (a retry, or an error it could not record)
  stays pending for the reclaimer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import structlog
from faststream import AckPolicy, FastStream
from faststream.redis import RedisBroker, RedisStreamMessage, StreamSub
from opentelemetry import trace
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.broker import consumer_name, create_broker, ensure_group
from shared.coalesce import TransactionBatcher
from shared.errors import NotAnArticle, PermanentError, RetryableError
from shared.logs import configure_logging
from shared.observability import CountOutcomes, health_server
from shared.redis_client import connect
from shared.redis_values import as_text
from shared.retention import remove_idle_consumers, trim_acknowledged
from shared.settings import Settings
from shared.status import ArticleStatus, StatusStore, StreamEntry
from shared.streams import Stage
from shared.telemetry import (
    ATTR_ARTICLE_ID,
    ATTR_OUTCOME,
    ATTR_STAGE,
    ATTR_URL,
    current_trace_id,
    set_outcome_attributes,
    setup_tracing,
)

log = structlog.get_logger("newsflow.worker")

EventT = TypeVar("EventT", bound=BaseModel)
UNPARSEABLE = "__newsflow_unparseable__"


@dataclass(frozen=True, slots=True)
class StageContext:
    """What a stage's handler may use: settings, Redis, the status store, the broker."""

    settings: Settings
    redis: Redis
    status: StatusStore
    broker: RedisBroker


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a stage's work produced: the event for the next stream, and status fields."""

    event: BaseModel
    status_fields: Mapping[str, Any] | None = None
    published: Callable[[], Awaitable[None]] | None = None
    """Called once the event is published: a record that must not exist without it."""


class StageHandler(Protocol, Generic[EventT]):
    """One stage's logic, free of delivery concerns."""

    done: ArticleStatus
    """The status an article reaches when this stage's work is done."""

    concurrency: int
    """Entries handled at once by one process (I/O-bound stages gain from more than 1)."""

    def read_linger_ms(self, settings: Settings) -> int:
        """How far apart reads start while the stage keeps up (`space_reads`); 0 for never."""
        ...

    def parse(self, body: Any) -> EventT:
        """Turn a decoded stream entry into this stage's input event (raise on bad input)."""
        ...

    async def start(self, ctx: StageContext) -> None: ...

    async def handle(self, event: EventT, ctx: StageContext) -> Outcome | None:
        """Do the work. Return the outcome to publish, or None when there is nothing to pass on."""
        ...

    async def stop(self) -> None: ...


class BaseStageHandler(Generic[EventT]):
    """Defaults for a `StageHandler`: parse by schema, nothing to start or stop, one at a time."""

    event_type: type[EventT]
    concurrency = 1
    """One at a time suits CPU-bound stages (clean, extract: more would only contend for the
    GIL, and spaCy keeps one pipeline per process); I/O-bound stages raise it."""

    def parse(self, body: Any) -> EventT:
        return self.event_type.model_validate(body)

    def read_linger_ms(self, settings: Settings) -> int:
        """`settings.read_linger_ms`. A stage whose work per entry dwarfs the cost of a read
        answers 0: lingering would only leave it idle while entries wait."""
        return settings.read_linger_ms

    async def start(self, ctx: StageContext) -> None:
        return None

    async def stop(self) -> None:
        return None


def describe_validation_error(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or 'event'}: {err['msg']}" for err in exc.errors()
    ]
    return "event does not match the schema: " + "; ".join(problems)


async def _tolerant_parser(
    msg: Mapping[str, Any], original: Callable[[Mapping[str, Any]], Awaitable[Any]]
) -> Any:
    """Parse as FastStream does; an entry it cannot parse becomes a marker to dead-letter."""
    try:
        return await original(msg)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the entry's fault
        raw = msg.get("data")
        fields = (
            {as_text(k, "backslashreplace"): as_text(v, "backslashreplace") for k, v in raw.items()}
            if isinstance(raw, Mapping)
            else {}
        )
        marker = {UNPARSEABLE: f"entry cannot be decoded: {exc}", "fields": fields}
        return await original({**msg, "data": {"data": json.dumps(marker).encode()}})


READ_BLOCK_MS = 2000
"""How long one XREADGROUP waits on an empty stream. It returns as soon as an entry
arrives, so this costs no latency; longer waits mean fewer round trips while idle."""


def space_reads(subscriber: Any, linger_ms: int, max_records: int) -> None:
    """Start `subscriber`'s reads at least `linger_ms` apart while its stream is not backlogged.

    A stage that keeps up with its stream reads each entry alone as it arrives, and one
    message handled alone costs about twice its share of a batch (the wake-up, the read
    and its reply, and code that runs cold after a wait). Waiting out the rest of
    `linger_ms` after a read that returned less than a full batch lets the entries that
    arrive meanwhile be read and handled together; a full batch means entries are waiting,
    so the next read starts at once, and a read that waited on an empty stream for longer
    than `linger_ms` adds no delay. FastStream has no setting for this, so its read step
    (`_get_msgs`, called with the function that reads) is wrapped on this one subscriber;
    `tests/component/test_read_spacing.py` fails if that step changes.
    """
    if linger_ms <= 0:
        return
    read_batch: Callable[[Callable[[str], Awaitable[Any]]], Awaitable[None]] = subscriber._get_msgs
    linger_s = linger_ms / 1000

    async def read_then_linger(read: Callable[[str], Awaitable[Any]]) -> None:
        entries = 0

        async def counting(last_id: str) -> Any:
            nonlocal entries
            response = await read(last_id)
            entries = sum(len(messages) for _, messages in response)
            return response

        started = time.monotonic()
        await read_batch(counting)
        if entries < max_records:
            rest = linger_s - (time.monotonic() - started)
            if rest > 0:
                await asyncio.sleep(rest)

    subscriber._get_msgs = read_then_linger


def reclaim_interval_ms(claim_idle_ms: int) -> int:
    """How often the reclaimer looks for idle entries when it found none: a tenth of the
    idle time it waits for, between 100 ms and 1 s. Entries it takes have waited far
    longer, so looking more often would only cost CPU while the stream is quiet."""
    return max(100, min(1000, claim_idle_ms // 10))


class StageRunner(Generic[EventT]):
    """Wires one stage's handler to its stream, its dead-letter stream and the status store."""

    def __init__(self, stage: Stage, settings: Settings, handler: StageHandler[EventT]) -> None:
        self.stage = stage
        self.settings = settings
        self.handler = handler
        self.tracer_provider = setup_tracing(stage.name, settings)
        self.tracer_provider.add_span_processor(CountOutcomes())
        self.broker = create_broker(settings, self.tracer_provider, stage.name)
        self._ctx: StageContext | None = None
        self._transactions: TransactionBatcher | None = None
        self._app: FastStream | None = None
        self.owns_stop_signals = False
        """Set when this runner is the process's main program (`run_stage`)."""
        self.stop_requested = False
        self.consumer = consumer = consumer_name(stage.name)
        # A stage handling entries side by side reads as many as it handles at once.
        per_read = max(settings.batch_size, handler.concurrency)
        reader = StreamSub(
            stage.reads,
            group=stage.group,
            consumer=consumer,
            max_records=per_read,
            polling_interval=READ_BLOCK_MS,
        )
        # Entries are acknowledged by `_consume` itself, with the status move where there is
        # one; an entry left unacknowledged stays pending for the reclaimer.
        reclaimer = StreamSub(
            stage.reads,
            group=stage.group,
            consumer=consumer,
            max_records=settings.batch_size,
            min_idle_time=settings.claim_idle_ms,
            polling_interval=reclaim_interval_ms(settings.claim_idle_ms),
        )
        reading = self.broker.subscriber(
            stream=reader,
            parser=_tolerant_parser,
            max_workers=max(1, handler.concurrency),
            ack_policy=AckPolicy.MANUAL,
        )
        reading(self._consume)
        self.reader = reading
        """FastStream's subscriber that reads the stage's stream (the reclaimer aside)."""
        space_reads(reading, handler.read_linger_ms(settings), per_read)
        self.broker.subscriber(
            stream=reclaimer, parser=_tolerant_parser, ack_policy=AckPolicy.MANUAL
        )(self._consume)

    @property
    def ctx(self) -> StageContext:
        if self._ctx is None:
            raise RuntimeError("stage is not started")
        return self._ctx

    @asynccontextmanager
    async def lifespan(self, **_: Any) -> AsyncIterator[None]:
        redis: Redis = connect(self.settings.redis_url)
        try:
            await ensure_group(redis, self.stage.reads, self.stage.group)
            self._ctx = StageContext(self.settings, redis, StatusStore(redis), self.broker)
            # Entries handled side by side finish together: one round trip for all.
            self._transactions = TransactionBatcher(redis, max(1, self.handler.concurrency))
            await self.handler.start(self._ctx)
            if self.owns_stop_signals:
                self._take_over_stop_signals()
            trimmer = asyncio.create_task(self._trim_periodically(redis))
            log.info("stage started", reads=self.stage.reads, group=self.stage.group)
            try:
                async with health_server(self.settings, redis, [self.stage], self._ready):
                    yield
            finally:
                trimmer.cancel()
        finally:
            await self.handler.stop()
            await redis.aclose()
            self.tracer_provider.shutdown()

    async def _ready(self) -> bool:
        return self.broker.running and await self.broker.ping(timeout=2)

    async def _trim_periodically(self, redis: Redis) -> None:
        while True:
            await asyncio.sleep(self.settings.trim_interval_seconds)
            try:
                removed = await trim_acknowledged(redis, self.stage.reads)
                gone = await remove_idle_consumers(
                    redis,
                    self.stage.reads,
                    self.stage.group,
                    idle_ms=10 * self.settings.claim_idle_ms,
                    keep=self.consumer,
                )
            except RedisError as exc:
                log.warning("housekeeping failed", error=str(exc))
                continue
            if removed:
                log.debug("trimmed", stream=self.stage.reads, removed=removed)
            if gone:
                log.info("removed idle consumers", consumers=gone)

    def app(self) -> FastStream:
        if self._app is None:
            self._app = FastStream(
                self.broker,
                lifespan=self.lifespan,
                logger=logging.getLogger(f"newsflow.broker.{self.stage.name}"),
            )
        return self._app

    def _take_over_stop_signals(self) -> None:
        """Record that a stop was asked for, then stop as FastStream would.

        FastStream also ends the app when a subscriber meets an error it cannot read past (its
        stream or group was deleted); knowing which happened lets `run_stage` exit non-zero
        in that case, so a supervisor restarts the stage and the group is recreated.
        """
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_stop)

    def request_stop(self) -> None:
        self.stop_requested = True
        self.app().exit()

    async def _consume(self, body: Any) -> None:
        # The message comes from FastStream's context, not as a handler parameter: a context
        # parameter is resolved on a worker thread for every message, which cost as much CPU
        # as the rest of the frame.
        msg: RedisStreamMessage = self.broker.context.get_local("message")
        ctx = self.ctx
        span = trace.get_current_span()
        span.set_attribute(ATTR_STAGE, self.stage.name)
        started = time.perf_counter()
        article_id = body.get("article_id") if isinstance(body, dict) else None
        structlog.contextvars.bind_contextvars(article_id=article_id)
        try:
            if isinstance(body, dict) and UNPARSEABLE in body:
                raise PermanentError(str(body[UNPARSEABLE]))
            try:
                event = self.handler.parse(body)
            except ValidationError as exc:
                raise PermanentError(describe_validation_error(exc)) from exc
            article_id = getattr(event, "article_id", None)
            structlog.contextvars.bind_contextvars(article_id=article_id)
            span.set_attribute(ATTR_ARTICLE_ID, article_id or "")
            span.set_attribute(ATTR_URL, getattr(event, "url", ""))
            outcome = await self.handler.handle(event, ctx)
            if outcome is None:
                span.set_attribute(ATTR_OUTCOME, "dropped")
                await msg.ack()
                return
            elapsed_ms = (time.perf_counter() - started) * 1000
            await self._pass_on(outcome, event.article_id, elapsed_ms, msg)  # type: ignore[attr-defined]
            span.set_attribute(ATTR_OUTCOME, "passed")
            set_outcome_attributes(span, outcome.status_fields or {})
            log.info("processed", elapsed_ms=round(elapsed_ms, 1))
        except NotAnArticle as exc:
            span.set_attribute(ATTR_OUTCOME, "skipped")
            log.info("skipped", reason=exc.reason)
            await self._skip(msg, article_id, exc.reason)
        except PermanentError as exc:
            span.set_attribute(ATTR_OUTCOME, "failed")
            span.record_exception(exc)
            await self._dead_letter(msg, body, article_id, exc, attempts=None)
        except Exception as exc:
            span.record_exception(exc)
            attempts = await msg.get_delivery_count()
            if attempts < self.settings.max_deliveries:
                span.set_attribute(ATTR_OUTCOME, "retry")
                log.warning(
                    "will retry",
                    attempts=attempts,
                    error=str(exc) or type(exc).__name__,
                    # An expected, retryable failure needs no traceback; anything else is a bug.
                    exc_info=not isinstance(exc, RetryableError),
                )
                await self._bring_retry_forward(msg, exc)
                # Left pending for the reclaimer: not acknowledged. Returning rather than
                # raising keeps FastStream from logging a full traceback for every attempt.
                return
            span.set_attribute(ATTR_OUTCOME, "failed")
            await self._dead_letter(msg, body, article_id, exc, attempts=attempts)
        finally:
            structlog.contextvars.unbind_contextvars("article_id")

    async def _skip(self, msg: RedisStreamMessage, article_id: str | None, reason: str) -> None:
        if not article_id:
            await msg.ack()
            return
        await self.ctx.status.advance(
            article_id,
            ArticleStatus.SKIPPED,
            stage=self.stage.name,
            ack=self._entry(msg),
            reason=reason,
        )

    async def _pass_on(
        self, outcome: Outcome, article_id: str, elapsed_ms: float, msg: RedisStreamMessage
    ) -> None:
        """Publish the next event, move the status and acknowledge the entry as one
        transaction: one round trip, and a crash leaves either all three or none (the entry
        is then redelivered), never an article whose status moved with nothing published.
        Handled concurrently, the entries that finish together share the transaction
        (`TransactionBatcher`), each with its own replies.
        If the event cannot be appended, the status step refuses too and the entry stays
        pending, to be retried and in the end dead-lettered like any other failure."""
        ctx = self.ctx
        async with ctx.redis.pipeline(transaction=True) as pipe:
            # Through the broker, so the publish span, trace headers and metrics are FastStream's.
            await self.broker.publish(outcome.event, stream=self.stage.writes, pipeline=pipe)
            ctx.status.advance_in(
                pipe,
                article_id,
                self.handler.done,
                self._entry(msg),
                published_to=self.stage.writes,
                stage=self.stage.name,
                elapsed_ms=elapsed_ms,
                **dict(outcome.status_fields or {}),
            )
            assert self._transactions is not None  # made with the context
            replies = await self._transactions.execute(pipe)
        errors = [str(reply) for reply in replies if isinstance(reply, Exception)]
        if errors:
            raise RetryableError(
                f"could not pass the event on to {self.stage.writes}: " + "; ".join(errors)
            )
        if outcome.published is not None:
            await outcome.published()

    async def _bring_retry_forward(self, msg: RedisStreamMessage, exc: Exception) -> None:
        """Honour a `RetryableError.retry_after` shorter than `claim_idle_ms`.

        The reclaimer takes entries idle for `claim_idle_ms`; setting the entry's idle time
        to `claim_idle_ms - retry_after` (XCLAIM IDLE, JUSTID so no delivery is counted)
        makes it due after `retry_after` instead. Longer hints wait `claim_idle_ms`.
        """
        delay = getattr(exc, "retry_after", None)
        if delay is None:
            return
        idle_ms = self.settings.claim_idle_ms - int(delay * 1000)
        entry_ids = msg.raw_message.get("message_ids") or []
        if idle_ms <= 0 or not entry_ids:
            return
        try:
            await self.ctx.redis.xclaim(
                self.stage.reads,
                self.stage.group,
                self.consumer,
                min_idle_time=0,
                message_ids=list[int | bytes | str | memoryview](entry_ids),
                idle=idle_ms,
                justid=True,
            )
        except RedisError as exc_redis:
            log.warning("could not schedule the retry", error=str(exc_redis))

    async def _dead_letter(
        self,
        msg: RedisStreamMessage,
        body: Any,
        article_id: str | None,
        exc: Exception,
        attempts: int | None,
    ) -> None:
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        if attempts is not None:
            reason = f"{reason} (gave up after {attempts} attempts)"
        ctx = self.ctx
        entry_ids = msg.raw_message.get("message_ids") or [b""]
        await ctx.redis.xadd(
            self.stage.dead_letters,
            {
                "stage": self.stage.name,
                "article_id": article_id or "",
                "reason": reason,
                "error": type(exc).__name__,
                "attempts": str(attempts or await msg.get_delivery_count()),
                "entry_id": as_text(entry_ids[0]),
                "payload": json.dumps(body, default=str),
                "failed_at": str(time.time()),
                "trace_id": current_trace_id() or "",
            },
        )
        log.warning("dead-lettered", reason=reason)
        if article_id:
            await ctx.status.advance(
                article_id,
                ArticleStatus.FAILED,
                ack=self._entry(msg),
                error_stage=self.stage.name,
                error_reason=reason,
            )
        else:
            await msg.ack()

    def _entry(self, msg: RedisStreamMessage) -> StreamEntry:
        (entry_id,) = msg.raw_message["message_ids"]
        return StreamEntry(self.stage.reads, self.stage.group, as_text(entry_id))


EXIT_SUBSCRIBER_STOPPED = 3


def run_stage(stage: Stage, settings: Settings, handler: StageHandler[Any]) -> int:
    """Run one stage until SIGINT or SIGTERM; returns the process exit status.

    0 after a requested stop; `EXIT_SUBSCRIBER_STOPPED` when the stage stopped by itself
    (its stream or consumer group was deleted under it), so that `newsflow up`, Docker or
    Kubernetes restart it and the group is created again.
    """
    configure_logging(settings, stage=stage.name)
    runner = StageRunner(stage, settings, handler)
    runner.owns_stop_signals = True
    asyncio.run(runner.app().run())
    if runner.stop_requested:
        return 0
    log.error(
        "stage stopped without being asked to; exiting so it is restarted",
        stream=stage.reads,
        group=stage.group,
        exit_status=EXIT_SUBSCRIBER_STOPPED,
    )
    return EXIT_SUBSCRIBER_STOPPED
