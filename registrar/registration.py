"""``register()``: an envelope becomes a case, in one transaction (R5.1, R5.2).

One call writes the case with its number, its attachments (files already
fsynced), the citizen's contact, the ``registered`` event, the case's place in
the city bureau's queue (R5.2: forwarded the same day) and the receipt notice
for the citizen's original channel. A second call for the same ``(channel,
external_id)`` returns the first case and writes nothing.

``register_many()`` does the same for a batch of items in one transaction with
a fixed number of statements (Core inserts with RETURNING, child rows in one
multi-row statement per table), so group commit (``intake/group_commit.py``)
pays a dozen round trips per batch instead of a dozen per item. The case
numbers are taken last, in one statement for the whole batch, so the day's
sequence row is locked only for the final statements before commit.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import Table, bindparam, insert, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from config.notices import render_notice
from config.organisation import UnitKind
from contract.clock import Clock
from contract.contact_kinds import NO_CALLS_TO_LANDLINE, channel_for, channels_for
from contract.contact_kinds import PHONE as PHONE_KIND
from contract.envelope import Channel, Envelope
from registrar.attachments import AttachmentStore
from registrar.contacts import ContactKey, call_choices, contact_keys, contact_kind, resolve_contacts
from registrar.db import insert_new_only
from registrar.deadlines import DuePolicy
from registrar.models import (
    Assignment,
    AssignmentRole,
    AssignmentState,
    AttachmentRecord,
    Case,
    CaseContact,
    CaseStatus,
    Deadline,
    DeadlineKind,
    Event,
    Notice,
    NoticeStatus,
    Unit,
)
from registrar.numbers import format_number, new_query_code, number_cases

__all__ = ["BureauCache", "BureauRef", "EmergencyAdvice", "Item", "Registered", "Registration",
           "RegistrationError", "bureau_ref", "city_bureau", "contact_kind", "find_case",
           "register", "register_many", "server_function"]

# Channels where the receipt reaches the citizen at once, in the same exchange: the web
# receipt page. A phone item's receipt was given in the call only when its envelope says so
# (``receipt_in_reply``: the agent or the voice menu read the number back); a voicemail
# registered after the call (the store was down, a worker crashed) must reach the caller by
# SMS, or the citizen never learns the case number.
RECEIPT_SHOWN_IN_SESSION = {Channel.WEB}
# Channels where an agent or a page can give R3.8's emergency advice during the exchange.
ADVICE_GIVEN_IN_SESSION = {Channel.WEB, Channel.PHONE}
# Voice channels: a receipt not given in the call goes to the caller's number: an SMS to a
# mobile, a call to a landline (``receipt_route``), never an SMS to a landline.
RECEIPT_BY_SMS = {Channel.PHONE, Channel.TWILIO_VOICE}


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


CASE, CASE_CONTACT, ATTACHMENT = _table(Case), _table(CaseContact), _table(AttachmentRecord)
ASSIGNMENT, DEADLINE, EVENT, NOTICE = _table(Assignment), _table(Deadline), _table(Event), _table(Notice)

# The batch's statements, built once (``registrar.db.prebuilt``): values go in as parameters.
_INSERT_LINKS, _INSERT_FILES = insert(CASE_CONTACT), insert(ATTACHMENT)
_INSERT_DEADLINES, _INSERT_EVENTS, _INSERT_NOTICES = insert(DEADLINE), insert(EVENT), insert(NOTICE)
_INSERT_QUEUES = insert(ASSIGNMENT).returning(ASSIGNMENT.c.case_id, ASSIGNMENT.c.id)
_EXISTING = (select(Case.channel, Case.external_id, Case.id, Case.number, Case.query_code)
             .where(tuple_(Case.channel, Case.external_id).in_(bindparam("keys", expanding=True))))

#: The cases; one stored meanwhile (a concurrent delivery) is skipped, not an error.
_insert_new_cases = insert_new_only(CASE, [CASE.c.channel, CASE.c.external_id])

CaseKey = tuple[str, str]
"""``(channel, external_id)``: an item's identity (a unique constraint)."""


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


@dataclass(frozen=True, slots=True)
class BureauRef:
    """The city bureau's id and code: all a registration needs of it (cacheable)."""

    id: int
    code: str


@dataclass(frozen=True, slots=True)
class Item:
    """One envelope ready to register: its files already fsynced under ``digests``."""

    envelope: Envelope
    digests: tuple[str, ...] = ()
    emergency: EmergencyAdvice | None = None


@dataclass(frozen=True, slots=True)
class Registered:
    """What ``register_many`` did with one item (a batch's duplicates share one case)."""

    case_id: int
    number: str
    query_code: str
    created: bool
    row: Mapping[str, Any] | None = None
    """Every column of the case as written, when this item created it."""


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


async def bureau_ref(session: AsyncSession) -> BureauRef:
    """The active city bureau, or ``RegistrationError`` when the organisation is not loaded."""
    unit = await city_bureau(session)
    return BureauRef(unit.id, unit.code)


@dataclass(slots=True)
class BureauCache:
    """The city bureau, read at most once per ``ttl_s`` instead of once per item.

    An organisation change (a new city bureau) takes effect within ``ttl_s``;
    ``forget`` drops the cached one at once, e.g. after a failed transaction.
    """

    ttl_s: float = 60.0
    _ref: BureauRef | None = None
    _read_at: float = 0.0

    async def get(self, session: AsyncSession) -> BureauRef:
        if self._ref is None or time.monotonic() - self._read_at > self.ttl_s:
            self._ref = await bureau_ref(session)
            self._read_at = time.monotonic()
        return self._ref

    def forget(self, _reason: BaseException | None = None) -> None:
        self._ref = None


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
    sms_channel: str = Channel.SMS_MODEM,
    voice_channel: str = "",
) -> Registration:
    """Register ``envelope``; the caller owns the transaction and commits it.

    ``due`` counts working days for the city bureau's dispatch clock (R7.2,
    ``dispatch_days`` from the regulation in force); ``emergency`` is intake's
    hint that the item may need 110/119/120/122 at once (R3.8): it is stored and,
    where the channel can take it, advised at once. ``sms_channel`` carries the
    receipt of a phone item that was not given in the call, ``voice_channel`` (when
    the site calls out) that of a landline or a mobile that chose calls. The returned case is a
    persistent object of ``session``, ready for further changes.
    """
    existing = await find_case(session, envelope.channel, envelope.external_id)
    if existing is not None:
        return Registration(existing, created=False)
    bureau = await bureau_ref(session)
    # Files reach the disk (fsynced) before the row that names them can commit.
    digests = tuple([await store.put(attachment.data) for attachment in envelope.attachments])
    (done,) = await register_many(session, [Item(envelope, digests, emergency)], clock=clock,
                                  prefix=prefix, bureau=bureau, due=due, dispatch_days=dispatch_days,
                                  sms_channel=sms_channel, voice_channel=voice_channel)
    if done.row is None:
        # Lost a race with a concurrent delivery of the same item: theirs stands.
        case = await find_case(session, envelope.channel, envelope.external_id)
        assert case is not None, "a conflicting case must be visible once its insert returned"
        return Registration(case, created=False)
    case = Case(**done.row)
    make_transient_to_detached(case)  # persistent without a SELECT: every column is known
    session.add(case)
    return Registration(case, created=True)


async def register_many(session: AsyncSession, items: Sequence[Item], *, clock: Clock, prefix: str,
                        bureau: BureauRef, due: DuePolicy | None = None,
                        dispatch_days: int = 1, sms_channel: str = Channel.SMS_MODEM,
                        voice_channel: str = "", in_server: bool = True) -> list[Registered]:
    """Register ``items`` in the caller's transaction; one ``Registered`` per item, in order.

    An item already stored, or repeated earlier in the same batch, resolves to
    that case with ``created=False``. Case numbers follow the batch's order.
    On PostgreSQL with migration 0023 the batch is one call of ``register_batch``
    (one statement, one round trip) unless ``in_server`` is False: the same rows,
    written by the server (tests compare the two).
    """
    now = clock.now()
    first: dict[CaseKey, Item] = {}
    for item in items:
        first.setdefault(_key(item.envelope), item)
    if in_server and await server_function(session):
        outcomes = await _in_server(session, list(first.values()), prefix=prefix, bureau=bureau,
                                    due=due, dispatch_days=dispatch_days, now=now,
                                    sms_channel=sms_channel, voice_channel=voice_channel)
    else:
        outcomes = await _in_python(session, first, prefix=prefix, bureau=bureau, due=due,
                                    dispatch_days=dispatch_days, now=now, sms_channel=sms_channel,
                                    voice_channel=voice_channel)
    results: list[Registered] = []
    for item in items:
        outcome = outcomes[_key(item.envelope)]
        results.append(outcome if item is first[_key(item.envelope)] else
                       Registered(outcome.case_id, outcome.number, outcome.query_code, created=False))
    return results


async def _in_python(session: AsyncSession, first: Mapping[CaseKey, Item], *, prefix: str,
                     bureau: BureauRef, due: DuePolicy | None, dispatch_days: int, now: datetime,
                     sms_channel: str, voice_channel: str) -> dict[CaseKey, Registered]:
    """``register_many``'s statements one by one (SQLite, and PostgreSQL without 0023)."""
    contacts = await resolve_contacts(session, [item.envelope for item in first.values()], now)
    rows = {key: _case_row(item, contacts, now) for key, item in first.items()}
    ids = await _insert_cases(session, rows)
    outcomes = await _existing(session, [key for key in rows if key not in ids])
    new = [(first[key], rows[key] | {"id": ids[key]}) for key in rows if key in ids]
    if new:
        queues = await _insert_children(session, new, contacts, bureau=bureau, due=due,
                                        dispatch_days=dispatch_days, now=now)
        numbers = await number_cases(session, prefix, now.date(), [row["id"] for _, row in new])
        for (_, row), number in zip(new, numbers, strict=True):
            row["number"] = number
        await _insert_events_and_notices(session, new, queues, bureau, now, sms_channel,
                                         voice_channel)
        for item, row in new:
            outcomes[_key(item.envelope)] = Registered(row["id"], row["number"], row["query_code"],
                                                       created=True, row=row)
    return outcomes


def _key(envelope: Envelope) -> CaseKey:
    return (str(envelope.channel), envelope.external_id)


def _case_row(item: Item, contacts: Mapping[ContactKey, int], now: datetime) -> dict[str, Any]:
    """Every column of the new case (so ``register`` can hand back a loaded object)."""
    envelope, keys = item.envelope, contact_keys(item.envelope)
    return {
        "number": f"~{secrets.token_hex(16)}",  # replaced by the real number, taken last
        "query_code": new_query_code(), "channel": str(envelope.channel),
        "external_id": envelope.external_id, "received_at": envelope.received_at,
        "registered_at": now, "status": CaseStatus.REGISTERED, "text": envelope.text,
        "sender": envelope.sender, "reply_address": envelope.reply_address,
        "display_name": envelope.display_name, "language": envelope.language,
        "public_allowed": envelope.public_allowed, "district_hint": envelope.district_hint,
        "location_hint": envelope.location_hint, "notes": list(envelope.notes),
        # None in the server's batch, which finds the contact itself.
        "contact_id": contacts.get(keys[0]) if keys else None,
        "emergency": item.emergency.services if item.emergency else None,
        "screening_reason": None, "classification": None, "internal_reason": None,
        "reserved": False, "parent_case_id": None, "unit_proposes_private": False,
        "publication": None, "answer_text": None, "published_text": None, "published_at": None,
        "closed_at": None,
    }


async def _insert_cases(session: AsyncSession, rows: Mapping[CaseKey, dict[str, Any]]) -> dict[CaseKey, int]:
    """Insert the cases; an item stored meanwhile (a concurrent delivery) is skipped, not an error."""
    result = await session.execute(_insert_new_cases(session), list(rows.values()))
    return {(channel, external_id): ident for channel, external_id, ident in result}


async def _existing(session: AsyncSession, keys: Sequence[CaseKey]) -> dict[CaseKey, Registered]:
    if not keys:
        return {}
    result = await session.execute(_EXISTING, {"keys": list(keys)})
    return {(channel, external_id): Registered(ident, number, code, created=False)
            for channel, external_id, ident, number, code in result}


async def _insert_children(session: AsyncSession, new: Sequence[tuple[Item, dict[str, Any]]],
                           contacts: Mapping[ContactKey, int], *, bureau: BureauRef,
                           due: DuePolicy | None, dispatch_days: int, now: datetime) -> dict[int, int]:
    """Contacts, attachments, the bureau's queue (R5.2) and its dispatch clock (R7.2).

    Returns each case's queue assignment id, by case id.
    """
    links = [{"case_id": row["id"], "contact_id": contacts[key], "rank": rank}
             for item, row in new for rank, key in enumerate(contact_keys(item.envelope))]
    if links:
        await session.execute(_INSERT_LINKS, links)
    files = [{"case_id": row["id"], "sha256": digest, "filename": attachment.filename,
              "content_type": attachment.content_type, "size": attachment.size}
             for item, row in new
             for attachment, digest in zip(item.envelope.attachments, item.digests, strict=True)]
    if files:
        await session.execute(_INSERT_FILES, files)
    result = await session.execute(
        _INSERT_QUEUES,
        [{"case_id": row["id"], "unit_id": bureau.id, "role": AssignmentRole.BUREAU,
          "state": AssignmentState.QUEUED, "created_at": now} for _, row in new])
    queues = {case_id: ident for case_id, ident in result}
    if due is not None:
        clock = due.due(now, dispatch_days)
        await session.execute(_INSERT_DEADLINES, [
            {"case_id": case_id, "assignment_id": queue, "kind": DeadlineKind.DISPATCH, "rule": "R7.2",
             "started_at": now, "working_days": dispatch_days, "due_at": clock.at,
             "provisional": clock.provisional, "warn_at": clock.warn_at, "warned": False,
             "met_at": None, "missed": False} for case_id, queue in queues.items()])
    return queues


async def _insert_events_and_notices(session: AsyncSession, new: Sequence[tuple[Item, dict[str, Any]]],
                                     queues: Mapping[int, int], bureau: BureauRef,
                                     now: datetime, sms_channel: str,
                                     voice_channel: str = "") -> None:
    events: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    for item, row in new:
        envelope, actor = item.envelope, f"channel:{item.envelope.channel}"
        common = {"case_id": row["id"], "at": now, "actor": actor, "from_state": None,
                  "reason": None, "deadline": None}
        events.append(common | {"assignment_id": None, "action": "registered",
                                "to_state": CaseStatus.REGISTERED,
                                "data": {"number": row["number"], "attachments": len(item.digests)}})
        events.append(common | {"assignment_id": None, "action": "forwarded_to_city_bureau",
                                "to_state": AssignmentState.QUEUED,
                                "data": {"unit": bureau.code, "assignment": queues[row["id"]]}})
        notices.append(_receipt_notice(row["id"], row["number"], row["query_code"], envelope, now,
                                       sms_channel, voice_channel))
        if item.emergency is not None and envelope.channel not in ADVICE_GIVEN_IN_SESSION:
            notices.append(_emergency_notice(row["id"], envelope, item.emergency, now))
    await session.execute(_INSERT_EVENTS, events)
    await session.execute(_INSERT_NOTICES, notices)


def receipt_route(envelope: Envelope, sms_channel: str, voice_channel: str = ""
                  ) -> tuple[str, str | None, str | None]:
    """Channel, address and (when it cannot go) the reason for a receipt not given in session.

    A voice item's receipt goes to the first contact the caller left that a
    channel reaches: a call to a landline (or a mobile that chose calls) when the
    site calls out, an SMS to a mobile, an email. Never an SMS to a landline.
    """
    if envelope.channel not in RECEIPT_BY_SMS:
        return str(envelope.channel), envelope.reply_address, None
    for kind, address in contact_keys(envelope):
        choice = bool(envelope.reply_by_call) and address == envelope.reply_address
        ways = channels_for(kind, sms_channel=sms_channel, voice_channel=voice_channel,
                            address=address, prefers_call=choice)
        if ways:
            return ways[0], address, None
    channel = channel_for(PHONE_KIND, sms_channel=sms_channel)
    if not envelope.reply_address:
        return channel, None, None
    return channel, envelope.reply_address, NO_CALLS_TO_LANDLINE


def _receipt_notice(case_id: int, number: str, query_code: str, envelope: Envelope,
                    now: datetime, sms_channel: str, voice_channel: str = "") -> dict[str, Any]:
    values = {"number": number, "query_code": query_code}
    shown = envelope.receipt_in_reply or envelope.channel in RECEIPT_SHOWN_IN_SESSION
    channel, address, error = str(envelope.channel), envelope.reply_address, None
    if not shown:
        channel, address, error = receipt_route(envelope, sms_channel, voice_channel)
    text = render_notice("receipt", channel, values, language=envelope.language)
    status = NoticeStatus.PENDING
    if shown:
        status = NoticeStatus.SENT
    elif not address:
        status, error = NoticeStatus.FAILED, "no reply address: the citizen left none we can use"
    elif error:
        status = NoticeStatus.FAILED
    return {"case_id": case_id, "kind": "receipt", "channel": channel,
            "address": address, "text": text, "status": status, "essential": True,
            "attempts": 0, "created_at": now,
            "next_attempt_at": now if status == NoticeStatus.PENDING else None,
            "sent_at": now if shown else None,
            "provider_ref": f"in-reply:{envelope.channel}" if shown else None, "last_error": error,
            "template_values": values}


def _emergency_notice(case_id: int, envelope: Envelope, advice: EmergencyAdvice,
                      now: datetime) -> dict[str, Any]:
    """R3.8: the advice to call 110/119/120/122 goes out before anything else."""
    return {"case_id": case_id, "kind": "emergency_advice", "channel": str(envelope.channel),
            "address": envelope.reply_address, "text": advice.text,
            "status": NoticeStatus.PENDING if envelope.reply_address else NoticeStatus.FAILED,
            "essential": True, "attempts": 0, "created_at": now, "next_attempt_at": now,
            "sent_at": None, "provider_ref": None,
            "last_error": None if envelope.reply_address else "no reply address",
            "template_values": None}


#: Stands for the case number in texts rendered before the server takes the number; the
#: server replaces it (a template that prints no number leaves nothing to replace, as in Python).
NUMBER_PLACEHOLDER = "\u2063CASE-NUMBER\u2063"
_REGISTER_BATCH = text("SELECT ord, case_id, number, query_code, created, contact_id "
                       "FROM register_batch(CAST(CAST(:p AS text) AS jsonb))")
_HAS_FUNCTION = text("SELECT to_regprocedure('register_batch(jsonb)') IS NOT NULL")
_PAYLOAD_ONLY = frozenset({"attachments", "ck", "ca", "notes_json"})
"""Keys of a case in the payload that are not its columns."""
_server_function: WeakKeyDictionary[Any, bool] = WeakKeyDictionary()


async def server_function(session: AsyncSession) -> bool:
    """Whether the session's database has ``register_batch`` (PostgreSQL from migration 0023);
    asked once per engine, so a database migrated meanwhile is used after a restart."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    engine = getattr(bind, "engine", bind)
    found = _server_function.get(engine)
    if found is None:
        found = _server_function[engine] = bool((await session.execute(_HAS_FUNCTION)).scalar())
    return found


def _json_value(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


async def _in_server(session: AsyncSession, first: Sequence[Item], *, prefix: str,
                     bureau: BureauRef, due: DuePolicy | None, dispatch_days: int, now: datetime,
                     sms_channel: str, voice_channel: str) -> dict[CaseKey, Registered]:
    """The batch as one ``register_batch`` call: Python renders, the server writes.

    Every value the Python path would write is computed here alike (``_case_row``,
    ``_receipt_notice``, the dispatch clock); the server adds the ids and the numbers
    (``NUMBER_PLACEHOLDER`` in the notices' texts). The migration's text says the order.
    """
    names: dict[ContactKey, str | None] = {}
    choices = call_choices(item.envelope for item in first)
    cases: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    for ordinal, item in enumerate(first, start=1):
        envelope, keys = item.envelope, contact_keys(item.envelope)
        for key in keys:
            names.setdefault(key, envelope.display_name)
        row = _case_row(item, {}, now) | {"attachments": len(item.digests)}
        # json columns keep their text: written as the Python path's json.dumps writes them.
        row["notes_json"] = json.dumps(row["notes"])
        row["ck"], row["ca"] = keys[0] if keys else (None, None)
        cases.append(row)
        links += [{"item": ordinal, "kind": kind, "address": address, "rank": rank}
                  for rank, (kind, address) in enumerate(keys)]
        files += [{"item": ordinal, "sha256": digest, "filename": attachment.filename,
                   "content_type": attachment.content_type, "size": attachment.size}
                  for attachment, digest in zip(envelope.attachments, item.digests, strict=True)]
        notices.append({"item": ordinal} | _receipt_notice(0, NUMBER_PLACEHOLDER, row["query_code"],
                                                            envelope, now, sms_channel,
                                                            voice_channel))
        if item.emergency is not None and envelope.channel not in ADVICE_GIVEN_IN_SESSION:
            notices.append({"item": ordinal} | _emergency_notice(0, envelope, item.emergency, now))
    deadline = None
    if due is not None:
        clock = due.due(now, dispatch_days)
        deadline = {"kind": DeadlineKind.DISPATCH, "rule": "R7.2", "started_at": now,
                    "working_days": dispatch_days, "due_at": clock.at,
                    "provisional": clock.provisional, "warn_at": clock.warn_at, "warned": False,
                    "met_at": None, "missed": False}
    for notice in notices:  # json text as the Python path writes it (the number replaced in SQL)
        notice["template_values_json"] = json.dumps(notice.pop("template_values"))
    payload = {"now": now, "day": now.date(), "head": format_number(prefix, now.date(), 0)[:-6],
               "ph": NUMBER_PLACEHOLDER, "ph_json": json.dumps(NUMBER_PLACEHOLDER)[1:-1],
               "unit_json": json.dumps(bureau.code), "registered": CaseStatus.REGISTERED,
               "queued": AssignmentState.QUEUED,
               "queue": {"unit_id": bureau.id, "unit_code": bureau.code,
                         "role": AssignmentRole.BUREAU, "state": AssignmentState.QUEUED},
               "deadline": deadline, "cases": cases, "links": links, "files": files,
               "notices": notices,
               "contacts": [{"kind": kind, "address": address, "display_name": name,
                             "choice": choices.get((kind, address))}
                            for (kind, address), name in sorted(names.items())]}
    # orjson: the same JSON as json.dumps (the server parses it; datetimes in isoformat's
    # form), in a tenth of the time; it was a twentieth of a web intake's CPU.
    rows = await session.execute(_REGISTER_BATCH, {
        "p": orjson.dumps(payload, default=_json_value).decode()})
    outcomes: dict[CaseKey, Registered] = {}
    for ordinal, case_id, number, query_code, created, contact_id in rows:
        row = cases[ordinal - 1]
        done = None
        if created:
            done = {key: value for key, value in row.items() if key not in _PAYLOAD_ONLY}
            done |= {"id": case_id, "number": number, "contact_id": contact_id}
        outcomes[(row["channel"], row["external_id"])] = Registered(case_id, number, query_code,
                                                                    created=created, row=done)
    return outcomes
