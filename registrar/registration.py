"""``register()``: an envelope becomes a case, in one transaction (R5.1, R5.2).

One call writes the case with its number, its attachments (files already
fsynced), the citizen's contact, the ``registered`` event, the case's place in
the city bureau's queue (R5.2: forwarded the same day) and the receipt notice
for the citizen's original channel. A second call for the same ``(channel,
external_id)`` returns the first case and writes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from config.notices import render_notice
from config.organisation import UnitKind
from contract.clock import Clock
from contract.envelope import Channel, Envelope
from registrar.attachments import AttachmentStore
from registrar.deadlines import DuePolicy, open_deadline
from registrar.models import (
    Assignment,
    AssignmentRole,
    AssignmentState,
    AttachmentRecord,
    Case,
    CaseContact,
    CaseStatus,
    Contact,
    DeadlineKind,
    Event,
    Notice,
    NoticeStatus,
    Unit,
)
from registrar.numbers import format_number, new_query_code, next_sequence

# Channels where the receipt reaches the citizen at once, in the same exchange:
# the web receipt page and the agent reading the number back on the phone.
RECEIPT_SHOWN_IN_SESSION = {Channel.WEB, Channel.PHONE}


@dataclass(frozen=True, slots=True)
class EmergencyAdvice:
    """Intake's hint that an item may be an emergency (R3.8)."""

    services: str
    """The numbers to call, e.g. "110,120"."""
    text: str
    """The advice to give the citizen at once."""


class RegistrationError(Exception):
    """The registrar cannot register anything (e.g. the organisation is not seeded)."""


@dataclass(frozen=True, slots=True)
class Registration:
    """The case for an envelope and whether this call created it."""

    case: Case
    created: bool


async def find_case(session: AsyncSession, channel: str, external_id: str) -> Case | None:
    result = await session.execute(
        select(Case).where(Case.channel == channel, Case.external_id == external_id)
    )
    return result.scalar_one_or_none()


async def city_bureau(session: AsyncSession) -> Unit:
    result = await session.execute(
        select(Unit).where(Unit.kind == UnitKind.CITY_BUREAU, Unit.active.is_(True))
    )
    unit = result.scalars().first()
    if unit is None:
        raise RegistrationError("no city bureau in the database: run `hotline demo seed` "
                                "or load the organisation")
    return unit


def contact_kind(channel: Channel, address: str) -> str:
    if channel is Channel.FAX and "@" not in address:
        return "fax"
    return "email" if "@" in address else "phone"


async def _contact(session: AsyncSession, envelope: Envelope, address: str,
                   clock: Clock) -> Contact:
    """Get or create one contact of the citizen (race-safe under a savepoint)."""
    kind = contact_kind(envelope.channel, address)
    query = select(Contact).where(Contact.kind == kind, Contact.address == address)
    existing = (await session.execute(query)).scalar_one_or_none()
    if existing is not None:
        return existing
    try:
        async with session.begin_nested():
            contact = Contact(kind=kind, address=address, display_name=envelope.display_name,
                              opted_out=False, created_at=clock.now())
            session.add(contact)
        return contact
    except IntegrityError:
        return (await session.execute(query)).scalar_one()


async def register(
    session: AsyncSession,
    envelope: Envelope,
    *,
    clock: Clock,
    store: AttachmentStore,
    prefix: str = "FZ12345",
    due: DuePolicy | None = None,
    emergency: EmergencyAdvice | None = None,
    dispatch_days: int = 1,
) -> Registration:
    """Register ``envelope``; the caller owns the transaction and commits it.

    ``due`` counts working days for the city bureau's dispatch clock (R7.2,
    ``dispatch_days`` from the regulation in force); ``emergency`` is intake's
    hint that the item may need 110/119/120/122 at once (R3.8): it is stored and,
    where the channel can take it, advised at once.

    The case number is taken last: the day's sequence row stays locked until
    commit, so everything that can be written before it (and a duplicate's
    unique violation) happens first, and concurrent registrations queue on the
    lock only for the last statements.
    """
    existing = await find_case(session, envelope.channel, envelope.external_id)
    if existing is not None:
        return Registration(existing, created=False)
    bureau = await city_bureau(session)
    # Files reach the disk (fsynced) before the row that names them can commit.
    digests = [await store.put(attachment.data) for attachment in envelope.attachments]
    addresses = [a for a in (envelope.reply_address, *envelope.alt_reply_addresses) if a]
    contacts = [await _contact(session, envelope, a, clock) for a in dict.fromkeys(addresses)]
    now = clock.now()
    try:
        async with session.begin_nested():
            case = Case(
                number=f"~{uuid.uuid4().hex}",  # replaced by the real number below
                query_code=new_query_code(),
                channel=envelope.channel,
                external_id=envelope.external_id,
                received_at=envelope.received_at,
                registered_at=now,
                status=CaseStatus.REGISTERED,
                text=envelope.text,
                sender=envelope.sender,
                reply_address=envelope.reply_address,
                display_name=envelope.display_name,
                language=envelope.language,
                public_allowed=envelope.public_allowed,
                district_hint=envelope.district_hint,
                location_hint=envelope.location_hint,
                notes=list(envelope.notes),
                contact_id=contacts[0].id if contacts else None,
                emergency=emergency.services if emergency else None,
            )
            session.add(case)
            await session.flush()
            for rank, contact in enumerate(contacts):
                session.add(CaseContact(case_id=case.id, contact_id=contact.id, rank=rank))
            for attachment, digest in zip(envelope.attachments, digests, strict=True):
                session.add(AttachmentRecord(case_id=case.id, sha256=digest, filename=attachment.filename,
                                             content_type=attachment.content_type, size=attachment.size))
            # R5.2: the item is in the city bureau's queue the moment it is registered.
            queue = Assignment(case_id=case.id, unit_id=bureau.id, role=AssignmentRole.BUREAU,
                               state=AssignmentState.QUEUED, created_at=now)
            session.add(queue)
            await session.flush()
            if due is not None:
                # R7.2: the city bureau dispatches within 1 working day.
                await open_deadline(session, due, case_id=case.id, assignment_id=queue.id,
                                    kind=DeadlineKind.DISPATCH, rule="R7.2", start=now,
                                    working_days=dispatch_days)
            case.number = format_number(prefix, now.date(), await next_sequence(session, now.date()))
            _add_events_and_notices(session, case, envelope, queue, bureau, emergency,
                                    attachments=len(digests), now=now)
            await session.flush()
    except IntegrityError:
        # Lost a race with a concurrent delivery of the same item: theirs stands.
        existing = await find_case(session, envelope.channel, envelope.external_id)
        if existing is None:
            raise
        return Registration(existing, created=False)
    return Registration(case, created=True)


def _add_events_and_notices(session: AsyncSession, case: Case, envelope: Envelope, queue: Assignment,
                            bureau: Unit, emergency: EmergencyAdvice | None, *, attachments: int,
                            now: datetime) -> None:
    actor = f"channel:{envelope.channel}"
    session.add(Event(case_id=case.id, at=now, actor=actor, action="registered",
                      from_state=None, to_state=CaseStatus.REGISTERED,
                      data={"number": case.number, "attachments": attachments}))
    session.add(Event(case_id=case.id, at=now, actor=actor, action="forwarded_to_city_bureau",
                      from_state=None, to_state=AssignmentState.QUEUED,
                      data={"unit": bureau.code, "assignment": queue.id}))
    session.add(_receipt_notice(case, envelope, now))
    if emergency is not None and envelope.channel not in RECEIPT_SHOWN_IN_SESSION:
        session.add(_emergency_notice(case, envelope, emergency, now))


def _receipt_notice(case: Case, envelope: Envelope, now: datetime) -> Notice:
    text = render_notice("receipt", envelope.channel,
                         {"number": case.number, "query_code": case.query_code},
                         language=envelope.language)
    shown = envelope.receipt_in_reply or envelope.channel in RECEIPT_SHOWN_IN_SESSION
    status = NoticeStatus.PENDING
    error = None
    if shown:
        status = NoticeStatus.SENT
    elif not envelope.reply_address:
        status, error = NoticeStatus.FAILED, "no reply address: the citizen left none we can use"
    return Notice(case_id=case.id, kind="receipt", channel=envelope.channel,
                  address=envelope.reply_address, text=text, status=status, essential=True,
                  attempts=0, created_at=now, next_attempt_at=None if shown else now,
                  sent_at=now if shown else None,
                  provider_ref=f"in-reply:{envelope.channel}" if shown else None,
                  last_error=error)


def _emergency_notice(case: Case, envelope: Envelope, advice: EmergencyAdvice,
                      now: datetime) -> Notice:
    """R3.8: the advice to call 110/119/120/122 goes out before anything else."""
    return Notice(case_id=case.id, kind="emergency_advice", channel=envelope.channel,
                  address=envelope.reply_address, text=advice.text,
                  status=NoticeStatus.PENDING if envelope.reply_address else NoticeStatus.FAILED,
                  essential=True, attempts=0, created_at=now, next_attempt_at=now, sent_at=None,
                  provider_ref=None,
                  last_error=None if envelope.reply_address else "no reply address")
