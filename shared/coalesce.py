"""Work that concurrent handlers reach together, done once for all of them.

A stage that handles a read's entries concurrently (fetch, index) sees them reach the same
step a few turns of the event loop apart: FastStream's queue and semaphore each take a turn.
`settle` waits until `QUIET_TURNS` turns pass with nobody joining, so the step can then be
done once for everyone waiting. `Coalescer` is that pattern: the index stage writes its
articles through one (`services.index.batching`), and every concurrent stage sends its
pass-on transactions through another (`TransactionBatcher`).

Three turns, measured: after a single quiet turn, 300 articles arriving three to a read were
written in 197–206 batches; after three, in 103–104, one per read.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
from abc import ABC, abstractmethod
from collections.abc import Sized
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

QUIET_TURNS = 3

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


async def settle(pending: Sized, limit: int) -> None:
    """Return once `QUIET_TURNS` turns of the event loop pass with `pending` not growing,
    or once it holds `limit` items."""
    quiet = 0
    while quiet < QUIET_TURNS and len(pending) < limit:
        joined = len(pending)
        await asyncio.sleep(0)
        quiet = quiet + 1 if len(pending) == joined else 0


class Coalescer(ABC, Generic[ItemT, ResultT]):
    """Items handed in together are processed together, each caller getting its own result.

    The first caller starts a task that waits for the others (`settle`), takes up to
    `max_batch` items and calls `_process`, which answers one result or exception per
    item; it goes on while items wait. The task runs in a context of its own, so no
    handler's trace or log fields cling to the batches it processes.
    """

    def __init__(self, max_batch: int) -> None:
        self._max_batch = max_batch
        self._pending: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._running: asyncio.Task[None] | None = None

    async def _submit(self, item: ItemT) -> ResultT:
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._run(), context=contextvars.Context())
        return await future

    @abstractmethod
    async def _process(self, items: list[ItemT]) -> list[ResultT | BaseException]:
        """One result, or the exception its caller should raise, per item."""

    async def _run(self) -> None:
        batch: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        try:
            while True:
                await settle(self._pending, self._max_batch)
                if not self._pending:
                    return
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    outcomes = await self._process([item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every caller learns of it
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # its caller was cancelled
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            # Cancelled or failed mid-batch (a normal end leaves nothing undone): no caller
            # may wait forever.
            for _, future in [*batch, *self._pending]:
                if not future.done():
                    future.cancel()


class TransactionBatcher(Coalescer[list[Any], list[Any]]):
    """Sends the transactions of handlers that finish together as one MULTI/EXEC.

    Each handler's transaction (publish, status move, acknowledgement) would otherwise be a
    round trip of its own: a write that wakes the server and a reply that wakes this process,
    once per entry. Each handler still gets the replies of its own commands, errors as
    values, so one entry's refused step fails only that entry; a transaction the server
    refuses as a whole (a command it rejects when queued: a bug, not bad data) fails every
    entry in it, each left to its redelivery.
    """

    def __init__(self, redis: Redis, max_batch: int) -> None:
        super().__init__(max_batch)
        self._redis = redis
        self.transactions = 0
        """Transactions sent, for tests and benchmarks."""

    async def execute(self, pipe: Pipeline) -> list[Any]:
        """The replies to `pipe`'s commands, an unsent MULTI/EXEC transaction, sent with
        whatever other handlers hand in alongside.

        Only the queued commands are merged. A pipeline that also relies on what else it
        tracks (scripts to load first, WATCHed keys, a MULTI of its own) or is not a
        transaction is sent on its own, and so is every one where entries are handled one
        at a time (`max_batch` 1): there is nobody to wait for.
        """
        if (
            self._max_batch == 1
            or pipe.scripts
            or pipe.watching
            or pipe.explicit_transaction
            or not pipe.is_transaction
        ):
            return await pipe.execute(raise_on_error=False)
        return await self._submit(list(pipe.command_stack))

    async def _process(self, items: list[list[Any]]) -> list[list[Any] | BaseException]:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for commands in items:
                    pipe.command_stack.extend(commands)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # noqa: BLE001 - handed to every waiting handler
            # One instance per handler: each raises and logs its own.
            return [_own_copy(exc) for _ in items]
        self.transactions += 1
        answers: list[list[Any] | BaseException] = []
        start = 0
        for commands in items:
            answers.append(replies[start : start + len(commands)])
            start += len(commands)
        return answers


def _own_copy(exc: Exception) -> Exception:
    try:
        return copy.copy(exc)
    except Exception:  # noqa: BLE001 - an exception that cannot be copied is shared
        return exc
