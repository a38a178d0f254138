"""State changes of one outbox row, each with its event, inside the caller's transaction.

Every change of a notice's status appends an ``Event`` on its case in the same
transaction (DESIGN.md, invariant 3), so the desk can read a notice's whole
history from the case log. A notice that fails for good falls back, once, to
the next way the citizen gave to reach them (``CaseContact.rank`` order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.notices import render_notice
from config.settings import ConfigError
from contract.contact_kinds import channels_for
from forwarder.callbacks import REQUEST_KIND
from forwarder.outbox_rules import ACTOR, contact_kind, provider_outcome
from registrar.models import Case, CaseContact, Contact, Event, Notice, NoticeStatus

log = logging.getLogger(__name__)

FINAL = frozenset({NoticeStatus.DELIVERED, NoticeStatus.FAILED, NoticeStatus.CANCELLED})


def add_event(session: AsyncSession, notice: Notice, action: str, *, now: datetime,
              from_state: str | None, reason: str | None = None,
              deadline: datetime | None = None, **data: Any) -> None:
    """Append the event for one status change of ``notice`` (no personal data in ``data``).

    A case-less notice (a keyword answer about no case) has no case log to write to:
    its row (status, attempts, last error, sent_at, provider reference) is its trace,
    and the change is logged.
    """
    if notice.case_id is None:
        log.info("outbox: notice %s (%s on %s, no case): %s -> %s%s", notice.id, notice.kind,
                 notice.channel, from_state, notice.status, f" ({reason})" if reason else "")
        return
    session.add(Event(case_id=notice.case_id, at=now, actor=ACTOR, action=action,
                      from_state=from_state, to_state=notice.status, reason=reason,
                      deadline=deadline,
                      data={"notice": notice.id, "kind": notice.kind, "channel": notice.channel,
                            "attempts": notice.attempts, **data}))


async def opted_out(session: AsyncSession, notice: Notice) -> bool:
    """True when the notice's address belongs to a contact who asked for no more messages."""
    if not notice.address:
        return False
    query = select(Contact.opted_out).where(Contact.kind == contact_kind(notice.channel),
                                            Contact.address == notice.address)
    return bool((await session.execute(query)).scalar_one_or_none())


def cancel(session: AsyncSession, notice: Notice, *, now: datetime, reason: str) -> None:
    """CANCELLED: the notice will not be sent (the citizen opted out of non-essential ones)."""
    before = notice.status
    notice.status, notice.next_attempt_at, notice.last_error = NoticeStatus.CANCELLED, None, reason
    add_event(session, notice, "notice_cancelled", now=now, from_state=before, reason=reason)


def mark_sent(session: AsyncSession, notice: Notice, *, now: datetime, ref: str,
              late: bool = False) -> None:
    """SENT: the provider took the notice and gave ``ref``."""
    before = notice.status
    notice.status, notice.sent_at, notice.next_attempt_at = NoticeStatus.SENT, now, None
    notice.provider_ref, notice.last_error = ref[:255], None
    add_event(session, notice, "notice_sent", now=now, from_state=before, provider_ref=ref[:255],
              late=late)


def mark_retry(session: AsyncSession, notice: Notice, *, now: datetime, at: datetime,
               error: str, code: str) -> None:
    """PENDING again, due at ``at``, with the error kept for the desk."""
    before = notice.status
    notice.status, notice.next_attempt_at, notice.last_error = NoticeStatus.PENDING, at, error
    add_event(session, notice, "notice_retry", now=now, from_state=before, reason=error,
              deadline=at, code=code)


async def mark_failed(session: AsyncSession, notice: Notice, *, now: datetime, error: str,
                      code: str, sms_channel: str,
                      usable_channels: Collection[str] | None,
                      fallback: bool = True, voice_channel: str = "") -> Notice | None:
    """FAILED for good, then the fallback copy (returned) if the citizen left another way
    (none when ``fallback`` is False: a keypad call-back nobody answered is given up).

    When no copy is made, the ``notice_failed`` event says why (``no_fallback``)."""
    before = notice.status
    notice.status, notice.next_attempt_at, notice.last_error = NoticeStatus.FAILED, None, error
    copy, why = None, "回访电话无人接听，不再以短信代替" if not fallback else ""
    if fallback:
        copy, why = await enqueue_fallback(session, notice, now=now, sms_channel=sms_channel,
                                           usable_channels=usable_channels,
                                           voice_channel=voice_channel)
    add_event(session, notice, "notice_failed", now=now, from_state=before, reason=error,
              code=code, fallback=copy.id if copy is not None else None,
              no_fallback=why if copy is None else None)
    return copy


#: Why a failed notice has no fallback copy (the ``notice_failed`` event's ``no_fallback``).
NO_OTHER_CONTACT = "诉求人未留其他可用的联系方式，放弃发送"
ALREADY_FELL_BACK = "已转往下一联系方式"
NO_CASE = "无关联诉求，无其他联系方式"


async def enqueue_fallback(session: AsyncSession, failed: Notice, *, now: datetime,
                           sms_channel: str, usable_channels: Collection[str] | None,
                           voice_channel: str = "") -> tuple[Notice | None, str]:
    """One copy of ``failed`` to the next way to reach its citizen not yet tried for this kind.

    Never twice for the same original (its ``notice_fallback`` event is the
    mark). Each contact of the case, in rank order, offers the channels that
    reach it (``channels_for``: a call then an SMS for a mobile that chose
    calls, only a call for a landline, never an SMS to a landline); a way is
    skipped when a notice of the same kind already went to that address on that
    channel, when the channel has no deliverer here, or when the contact opted out
    and the notice is not essential. So a landline whose call failed for good goes
    on to the next contact (email, another number), not to an SMS it cannot read.
    Returns the copy, or None and the reason (always for a case-less notice).
    """
    if failed.case_id is None:
        return None, NO_CASE
    earlier = await session.execute(select(Event.data).where(
        Event.case_id == failed.case_id, Event.action == "notice_fallback"))
    if any(data.get("from_notice") == failed.id for data in earlier.scalars()):
        return None, ALREADY_FELL_BACK
    tried = {(channel, address) for channel, address in await session.execute(
        select(Notice.channel, Notice.address).where(
            Notice.case_id == failed.case_id, Notice.kind == failed.kind))}
    tried.add((failed.channel, failed.address))
    contacts = await session.execute(
        select(Contact).join(CaseContact, CaseContact.contact_id == Contact.id)
        .where(CaseContact.case_id == failed.case_id).order_by(CaseContact.rank))
    for contact in contacts.scalars():
        if contact.opted_out and not failed.essential:
            continue
        for channel in channels_for(contact.kind, sms_channel=sms_channel,
                                    voice_channel=voice_channel, address=contact.address,
                                    prefers_call=contact.prefers_call):
            if (channel, contact.address) in tried:
                continue
            if usable_channels is not None and channel not in usable_channels:
                continue
            return await _copy(session, failed, channel, contact, now=now), ""
    return None, NO_OTHER_CONTACT


async def _copy(session: AsyncSession, failed: Notice, channel: str, contact: Contact, *,
                now: datetime) -> Notice:
    copy = Notice(case_id=failed.case_id, kind=failed.kind, channel=channel,
                  address=contact.address, text=await _text_for(session, failed, channel),
                  template_values=failed.template_values, status=NoticeStatus.PENDING,
                  essential=failed.essential, attempts=0, created_at=now, next_attempt_at=now,
                  sent_at=None, provider_ref=None, last_error=None)
    session.add(copy)
    await session.flush()
    add_event(session, copy, "notice_fallback", now=now, from_state=None,
              reason=f"notice {failed.id} on {failed.channel} failed: {failed.last_error}",
              from_notice=failed.id, contact=contact.id)
    return copy


async def _text_for(session: AsyncSession, failed: Notice, channel: str) -> str:
    """The notice rendered again for ``channel`` (its own wording: no "reply CX …" by
    email); the failed text when it came from no template or the template went away."""
    if failed.template_values is None or channel == failed.channel:
        return failed.text
    language = (await session.execute(
        select(Case.language).where(Case.id == failed.case_id))).scalar_one()
    try:
        return render_notice(failed.kind, channel, dict(failed.template_values),
                             language=language)
    except ConfigError as exc:
        log.warning("notice %s: cannot render %s for %s (%s); resending its text",
                    failed.id, failed.kind, channel, exc)
        return failed.text


async def find_by_ref(session: AsyncSession, ref: str) -> Notice | None:
    """The notice a provider callback names: our notice id (digits) or the provider's reference.

    A long SMS sent in parts stores its references comma-joined; any one finds it.
    """
    lock = session.get_bind().dialect.name == "postgresql"
    if ref.isdigit():
        query = select(Notice).where(Notice.id == int(ref))
    else:
        column = Notice.provider_ref
        query = select(Notice).where(or_(
            column == ref, column.startswith(ref + ",", autoescape=True),
            column.endswith("," + ref, autoescape=True),
            column.contains("," + ref + ",", autoescape=True)))
    if lock:
        query = query.with_for_update()
    return (await session.execute(query.limit(1))).scalars().first()


async def record_status(session: AsyncSession, ref: str, status: str, error_code: str | None, *,
                        now: datetime, sms_channel: str,
                        usable_channels: Collection[str] | None,
                        again: Callable[[Notice, datetime], datetime | None] | None = None,
                        voice_channel: str = "") -> Notice | None:
    """Apply a provider's delivery report; return the notice when its status changed.

    ``delivered`` moves a sent (or still sending) notice to DELIVERED;
    ``undelivered``/``failed`` make it FAILED and fall back; in-flight words
    (queued, sent…) change nothing. A failure after "delivered" wins: one part of
    a long SMS failing means the citizen did not get the whole notice. A call
    nobody answered (``busy``, ``no-answer``, ``unheard``…) is tried again at
    the time ``again`` gives, or fails when it gives None (attempts spent); a
    call already delivered stays delivered.
    """
    try:
        outcome = provider_outcome(status)
    except ValueError:
        log.warning("outbox: delivery report %r for %r not understood; ignored", status, ref)
        return None
    if outcome is None:
        return None
    notice = await find_by_ref(session, ref)
    if notice is None:
        log.warning("outbox: delivery report %r for unknown notice %r", status, ref)
        return None
    before = notice.status
    if outcome is NoticeStatus.PENDING and before in (NoticeStatus.SENT, NoticeStatus.SENDING):
        return await call_unanswered(session, notice, status, now=now, sms_channel=sms_channel,
                                     usable_channels=usable_channels, again=again,
                                     voice_channel=voice_channel)
    if outcome is NoticeStatus.DELIVERED and before in (NoticeStatus.SENT, NoticeStatus.SENDING):
        notice.status = NoticeStatus.DELIVERED
        notice.sent_at = notice.sent_at or now
        add_event(session, notice, "notice_delivered", now=now, from_state=before,
                  provider_status=status)
        return notice
    if outcome is NoticeStatus.FAILED and before in (
            NoticeStatus.SENT, NoticeStatus.SENDING, NoticeStatus.DELIVERED):
        error = f"provider reported {status}" + (f" (error {error_code})" if error_code else "")
        await mark_failed(session, notice, now=now, error=error,
                          code=f"provider_{error_code or status}", sms_channel=sms_channel,
                          usable_channels=usable_channels, voice_channel=voice_channel)
        return notice
    log.info("outbox: delivery report %r for notice %s in state %s ignored", status, notice.id,
             before)
    return None


async def call_unanswered(session: AsyncSession, notice: Notice, status: str, *, now: datetime,
                          sms_channel: str, usable_channels: Collection[str] | None,
                          again: Callable[[Notice, datetime], datetime | None] | None,
                          voice_channel: str = "") -> Notice:
    """A call the provider reports unanswered: another try later, or FAILED when none is left."""
    error = f"call not answered: {status}"
    at = again(notice, now) if again is not None else None
    if at is not None:
        mark_retry(session, notice, now=now, at=at, error=error, code=f"call_{status}")
        return notice
    await mark_failed(session, notice, now=now, error=f"gave up after {notice.attempts} attempts: "
                      f"{error}", code=f"call_{status}", sms_channel=sms_channel,
                      usable_channels=usable_channels, fallback=notice.kind != REQUEST_KIND,
                      voice_channel=voice_channel)
    return notice
