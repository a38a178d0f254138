"""Group commit: concurrent intakes share one transaction, one commit and one fsync.

A durable intake costs one disk flush at commit; a disk flushes a few hundred
times a second, so committing each item alone caps intake there. Here each
item is queued with a future; one drain task takes up to ``max_items`` (waiting
at most ``max_wait_s`` for more to arrive), registers them all in one
transaction with ``register_many`` and commits once. Only after that commit
has returned are the futures resolved, so a channel still acknowledges only
what is stored (DESIGN.md invariant 1).

Failure is contained to the batch: if the shared transaction fails, its items
are tried again one by one, each under its own SAVEPOINT in one fresh
transaction, so one bad item fails only itself; if the store itself is down,
or that second commit fails, every item of the batch gets the error (the
service turns it into ``TryLater``) and none is acknowledged. Idempotency and
gap-free numbers are ``register_many``'s: a duplicate within a batch resolves to
the same case, and the numbers are taken last for the items that are written.

The drain task exists only while items are queued, so there is nothing to
start or stop and no task outlives the last intake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from registrar.db import stale_connection, store_unavailable
from registrar.registration import Item, Registered

__all__ = ["CommitStats", "GroupCommitter", "RegisterMany", "store_unavailable"]

log = logging.getLogger(__name__)

RegisterMany = Callable[[AsyncSession, Sequence[Item]], Awaitable[list[Registered]]]
"""Registers items in the given session's transaction (``register_many`` with its options bound)."""


@dataclass(slots=True)
class CommitStats:
    """What the committer did, for benchmarks and logs (tests count commits on the engine)."""

    batches: int = 0
    items: int = 0
    largest: int = 0
    retried_batches: int = 0
    reconnects: int = 0
    failed_items: int = 0


@dataclass(slots=True)
class _Pending:
    item: Item
    future: asyncio.Future[Registered]


@dataclass(slots=True)
class GroupCommitter:
    """A queue in front of the store: ``submit`` returns once the item's batch committed."""

    begin: Callable[[], AbstractAsyncContextManager[AsyncSession]]
    """Opens a session in a new transaction, committed when the block ends."""
    register: RegisterMany
    max_items: int = 64
    max_wait_s: float = 0.002
    on_failure: Callable[[BaseException], None] | None = None
    """Called when a batch's transaction failed (e.g. to forget cached lookups)."""
    begin_alone: Callable[[], AbstractAsyncContextManager[AsyncSession]] | None = None
    """Opens the transaction for trying a failed batch's items one by one under SAVEPOINTs,
    when ``begin`` cannot (an autocommit session for PostgreSQL's one-statement batch)."""
    pipeline: int = 1
    """Batches in flight at once. With 2, the next batch writes its rows while the previous
    one waits for its fsync; the day's case numbers are still taken last under the
    sequence row's lock, so they stay gap-free and in commit order. SQLite serialises
    writers anyway (1 is right there); PostgreSQL gains."""
    stats: CommitStats = field(default_factory=CommitStats)
    _queue: deque[_Pending] = field(default_factory=deque)
    _full: asyncio.Event = field(default_factory=asyncio.Event)
    _drainers: set[asyncio.Task[None]] = field(default_factory=set)

    async def submit(self, item: Item) -> Registered:
        """Queue ``item``; return its registration after commit, or raise the batch's error."""
        future: asyncio.Future[Registered] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(item, future))
        if len(self._queue) >= self.max_items:
            self._full.set()
        # A drainer that returned is done at once, but its done-callbacks run later: count only
        # the live ones, or an item queued in between would wait for a drainer that is gone.
        self._drainers = {task for task in self._drainers if not task.done()}
        if len(self._drainers) < self.pipeline:
            self._drainers.add(asyncio.create_task(self._drain(), name="intake-group-commit"))
        return await future

    async def _drain(self) -> None:
        while self._queue:
            if len(self._queue) < self.max_items and self.max_wait_s > 0:
                # Bounded wait for company: a few ms of latency buys one fsync for many items.
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.max_wait_s)
            count = min(len(self._queue), self.max_items)
            batch = [self._queue.popleft() for _ in range(count)]
            # A caller that gave up before its batch began was never acknowledged: skip it.
            batch = [pending for pending in batch if not pending.future.done()]
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[_Pending]) -> None:
        items = [pending.item for pending in batch]
        self.stats.batches += 1
        self.stats.items += len(items)
        self.stats.largest = max(self.stats.largest, len(items))
        try:
            results: list[Registered | BaseException] = list(await self._once(items))
        except Exception as exc:
            if self.on_failure is not None:
                self.on_failure(exc)
            if store_unavailable(exc) or len(items) == 1:
                self._settle(batch, [exc] * len(items))
                return
            log.warning("batch of %d failed (%s); trying its items one by one", len(items), exc)
            self.stats.retried_batches += 1
            results = await self._one_by_one(items)
        self._settle(batch, results)

    async def _once(self, items: list[Item]) -> list[Registered]:
        """The batch in one transaction; once more on a new connection if its pooled one had died.

        The pool pings only connections that sat idle (``registrar.db``), so one that the
        server dropped a moment ago fails here first. Trying again is safe even if that
        failure hid a commit: registration is idempotent, so a stored item comes back as
        its case (``created=False``), never twice.
        """
        try:
            async with self.begin() as session:
                return await self.register(session, items)
        except Exception as exc:
            if not stale_connection(exc):
                raise
            log.info("batch of %d met a dead pooled connection (%s); trying a new one",
                     len(items), exc)
            self.stats.reconnects += 1
        async with self.begin() as session:
            return await self.register(session, items)

    async def _one_by_one(self, items: list[Item]) -> list[Registered | BaseException]:
        """Each item under its own SAVEPOINT, one commit for the survivors."""
        results: list[Registered | BaseException] = []
        try:
            async with (self.begin_alone or self.begin)() as session:
                for item in items:
                    try:
                        async with session.begin_nested():
                            results.append((await self.register(session, [item]))[0])
                    except Exception as exc:
                        if store_unavailable(exc):
                            raise
                        results.append(exc)
        except Exception as exc:
            return [exc] * len(items)
        return results

    def _settle(self, batch: list[_Pending], results: Sequence[Registered | BaseException]) -> None:
        for pending, result in zip(batch, results, strict=True):
            if pending.future.done():
                continue  # the caller was cancelled meanwhile; its item may be stored, harmlessly
            if isinstance(result, BaseException):
                self.stats.failed_items += 1
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)
