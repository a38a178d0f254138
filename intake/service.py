"""The intake sink: envelope → committed case → receipt, or ``TryLater``.

This is what every channel adapter calls. It owns the transaction, so a
channel acknowledges its sender only after the commit has returned; any
failure of the store becomes ``TryLater`` (HTTP 503, SMTP 451, SMS left on the
SIM) and nothing is half-written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contract.clock import Clock
from contract.envelope import Envelope, Receipt, TryLater
from contract.normalise import detect_script
from forwarder.rules import clocks_at
from forwarder.screening import EmergencyRule, emergency_hint
from registrar.attachments import AttachmentStore
from registrar.deadlines import DuePolicy
from registrar.registration import RegistrationError, register

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

    async def __call__(self, envelope: Envelope) -> Receipt:
        if envelope.language == "zh-Hans" and detect_script(envelope.text) == "zh-Hant":
            # Answer a citizen who writes Traditional characters in Traditional.
            envelope = replace(envelope, language="zh-Hant")
        try:
            async with self.sessionmaker.begin() as session:
                advice = emergency_hint(envelope.text, self.emergency_rules)
                result = await register(session, envelope, clock=self.clock, store=self.store,
                                        prefix=self.prefix, due=self.due, emergency=advice,
                                        dispatch_days=clocks_at(self.clock.now()).dispatch_days)
                number, code = result.case.number, result.case.query_code
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
            log.info("registered %s from %s/%s", number, envelope.channel, envelope.external_id)
        return Receipt(case_number=number, created=result.created, query_code=code,
                       emergency_advice=advice.text if advice else "")
