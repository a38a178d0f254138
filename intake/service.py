"""The intake sink: envelope → committed case → receipt, or ``TryLater``.

This is what every channel adapter calls. It owns the transaction, so a
channel acknowledges its sender only after the commit has returned; any
failure of the store becomes ``TryLater`` (HTTP 503, SMTP 451, SMS left on the
SIM) and nothing is half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC

from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contract.clock import Clock
from contract.envelope import Envelope, Receipt, TryLater
from contract.normalise import detect_script
from forwarder.progress import estimated_answer_due
from forwarder.rules import Clocks, clocks_at, default_revisions
from forwarder.screening import EmergencyRule, emergency_hint
from intake.group_commit import GroupCommitter
from registrar.attachments import AttachmentStore
from registrar.deadlines import DuePolicy
from registrar.registration import (
    BureauCache,
    Item,
    Registered,
    RegistrationError,
    register_many,
    server_function,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IntakeService:
    """Registers envelopes from every channel; an instance is the channels' ``Sink``."""

    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    store: AttachmentStore
    prefix: str
    due: DuePolicy | None = None
    """Counts the city bureau's dispatch clock (R7.2); None only in narrow tests."""
    emergency_rules: tuple[EmergencyRule, ...] = ()
    on_commit: Callable[[], None] | None = None
    """Called after a new case committed (wakes the outbox worker in this process)."""
    group_commit: bool = True
    """Share one transaction among concurrent intakes (``intake/group_commit.py``);
    off: one transaction per item, as before (kept for comparison and diagnosis)."""
    batch_max_items: int = 64
    batch_wait_s: float = 0.002
    batch_pipeline: int = 1
    """Batches in flight at once (``GroupCommitter.pipeline``)."""
    bureau: BureauCache = field(default_factory=BureauCache)
    revisions: tuple[Clocks, ...] = field(default_factory=default_revisions)
    """The regulation's clock counts (the settings' ``regulation_file``): R7.2's dispatch day."""
    sms_channel: str = "sms_modem"
    """Carries the receipt of a phone item registered after its call (``worker.sms_channel``)."""
    voice_channel: str = ""
    """Calls that receipt to a landline or a mobile that chose calls (``worker.voice_channel``)."""
    _committer: GroupCommitter | None = None
    _one_statement: async_sessionmaker[AsyncSession] | None = None
    """Sessions in autocommit mode, once the store is known to have ``register_batch``."""
    _one_statement_for: async_sessionmaker[AsyncSession] | None = None
    """The sessionmaker ``_one_statement`` was checked for."""

    @property
    def committer(self) -> GroupCommitter:
        """The group-commit queue of this service (made on first use, in the running loop)."""
        if self._committer is None:
            # The sessionmaker is looked up per batch: tests (and a failover) may swap it.
            self._committer = GroupCommitter(self._begin_batch, self._register,
                                             begin_alone=lambda: self.sessionmaker.begin(),
                                             max_items=self.batch_max_items,
                                             max_wait_s=self.batch_wait_s,
                                             pipeline=self.batch_pipeline,
                                             on_failure=self.bureau.forget)
        return self._committer

    @contextlib.asynccontextmanager
    async def _begin_batch(self) -> AsyncIterator[AsyncSession]:
        """A batch's session: on PostgreSQL with ``register_batch`` (migration 0023) one in
        autocommit mode, so the batch is one statement that is its own transaction: one round
        trip and one commit, no BEGIN and COMMIT around it. It is atomic all the same (one
        statement) and committed once it returned, so acknowledging then is safe."""
        maker = self.sessionmaker
        if self._one_statement_for is not maker:  # checked once per store (tests swap it)
            bind = maker.kw.get("bind")
            autocommit = None
            if isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql":
                async with maker() as session:
                    if await server_function(session):
                        autocommit = async_sessionmaker(
                            bind.execution_options(isolation_level="AUTOCOMMIT"),
                            expire_on_commit=False)
            self._one_statement, self._one_statement_for = autocommit, maker
        async with (self._one_statement or maker).begin() as session:
            yield session

    async def _register(self, session: AsyncSession, items: Sequence[Item]) -> list[Registered]:
        """``register_many`` with this service's options, the bureau from the cache."""
        bureau = await self.bureau.get(session)
        clocks = clocks_at(self.clock.now(), revisions=self.revisions)
        return await register_many(session, items, clock=self.clock, prefix=self.prefix,
                                   bureau=bureau, due=self.due, dispatch_days=clocks.dispatch_days,
                                   sms_channel=self.sms_channel,
                                   voice_channel=self.voice_channel)

    async def _alone(self, item: Item) -> Registered:
        try:
            async with self.sessionmaker.begin() as session:
                return (await self._register(session, [item]))[0]
        except Exception:
            self.bureau.forget()
            raise

    async def __call__(self, envelope: Envelope) -> Receipt:
        if envelope.language == "zh-Hans" and detect_script(envelope.text) == "zh-Hant":
            # Answer a citizen who writes Traditional characters in Traditional.
            envelope = replace(envelope, language="zh-Hant")
        advice = emergency_hint(envelope.text, self.emergency_rules)
        try:
            # Files reach the disk (fsynced) before the row that names them can commit; a
            # fax's four files are written side by side (each fsync waits on the disk).
            digests = tuple(await asyncio.gather(*(self.store.put(a.data)
                                                   for a in envelope.attachments)))
            item = Item(envelope, digests, advice)
            result = await (self.committer.submit(item) if self.group_commit else self._alone(item))
        except (OperationalError, DBAPIError, OSError, ConnectionError, TimeoutError) as exc:
            log.warning("store unavailable, %s/%s deferred: %s",
                        envelope.channel, envelope.external_id, exc)
            raise TryLater("the registry is unavailable; please try again shortly") from exc
        except (RegistrationError, SQLAlchemyError) as exc:
            log.error("registration of %s/%s failed: %s",
                      envelope.channel, envelope.external_id, exc)
            raise TryLater(str(exc)) from exc
        if result.created and self.on_commit is not None:
            self.on_commit()
        if result.created:
            log.info("registered %s from %s/%s", result.number, envelope.channel, envelope.external_id)
        due = None
        if self.due is not None:  # the citizen's receipt says by when to expect the answer
            now = self.clock.now()
            due = estimated_answer_due(now, due=self.due, zone=now.tzinfo or UTC,
                                       clocks=clocks_at(now, revisions=self.revisions)).day
        return Receipt(case_number=result.number, created=result.created, query_code=result.query_code,
                       emergency_advice=advice.text if advice else "", answer_due=due)
