"""Items that arrive without text: faxes and voicemail, transcribed by an agent (R5.1).

A fax or a recording arrives without text; its channel registers it with a
placeholder ("[传真 2 页，待坐席录入]", "[语音留言 40 秒，待坐席听录]") and the
pages or the audio attached. A machine may add what it read or heard (fax OCR,
speech to text) after the placeholder, marked ``MACHINE_TEXT_MARK``; that text
is a help for the agent, never the record: the case still awaits transcription
until an agent has checked and saved it. Saving is the one time a case's
registered text changes after registration, so it is recorded like any other
action: an ``Event`` "transcribed" keeps the previous text in its data. The
event log, not the case row, is the history.

Which channels carry such items is fixed here (``PLACEHOLDERS``), so that a
citizen's SMS that happens to start with "[传真" is never taken for a fax.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from contract.contact_kinds import EMAIL, PHONE
from contract.envelope import MACHINE_TEXT_MARK, Channel
from contract.transcript import (
    AUDIO_TYPES,
    FAX_PLACEHOLDER_PREFIX,
    VOICE_PLACEHOLDER_PREFIX,
    Transcript,
)
from registrar.contacts import resolve_keys
from registrar.models import AttachmentRecord, Case, CaseContact, Event

FAX_CHANNEL = Channel.FAX.value
PLACEHOLDER_PREFIX = FAX_PLACEHOLDER_PREFIX
PLACEHOLDERS: dict[str, str] = {
    Channel.FAX: FAX_PLACEHOLDER_PREFIX,
    Channel.PHONE: VOICE_PLACEHOLDER_PREFIX,
    Channel.TWILIO_VOICE: VOICE_PLACEHOLDER_PREFIX,
}
"""Channel → how its placeholder starts: the channels whose items wait for a transcription."""
MAX_TRANSCRIPTION_CHARS = 5000
MACHINE_TEXT_CHARS = 4000
MACHINE_DONE = "machine_transcribed"
MACHINE_FAILED = "machine_transcription_failed"
MACHINE_REFUSED = "machine_transcription_refused"
"""The recogniser cannot read the file at all: no further attempts."""


class TranscriptionError(ValueError):
    """The transcription cannot be recorded; ``reason`` says why in words for the agent."""

    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        """``not_found``, ``not_transcribable``, ``already``, ``empty`` or ``too_long``."""


def awaits_transcription(case: Case) -> bool:
    """True for a fax or recording whose text is still its channel's placeholder."""
    prefix = PLACEHOLDERS.get(case.channel)
    return prefix is not None and case.text.startswith(prefix)


def awaiting() -> ColumnElement[bool]:
    """``awaits_transcription`` as a query condition."""
    return or_(*(and_(Case.channel == channel, Case.text.startswith(prefix, autoescape=True))
                 for channel, prefix in PLACEHOLDERS.items()))


@dataclass(frozen=True, slots=True)
class CallFields:
    """What an agent files with a transcription, as with a call: the category, the district
    and another number or address to answer at (already validated by the console)."""

    category: str = ""
    district: str = ""
    reply_to: str = ""


async def _add_reply_contact(session: AsyncSession, case: Case, address: str, now: datetime) -> None:
    """The citizen's number from the fax or message, tried after the ways already known."""
    kind = EMAIL if "@" in address else PHONE
    found = await resolve_keys(session, {(kind, address): None}, now)
    contact_id = found[(kind, address)]
    ranks = list((await session.execute(select(CaseContact.contact_id, CaseContact.rank).where(
        CaseContact.case_id == case.id))).all())
    if any(cid == contact_id for cid, _ in ranks):
        return
    session.add(CaseContact(case_id=case.id, contact_id=contact_id,
                            rank=max((r for _, r in ranks), default=-1) + 1))


async def record_transcription(session: AsyncSession, case_number: str, text: str, *, actor: str,
                               now: datetime, emergency: str | None = None,
                               replace_transcribed: bool = False,
                               fields: CallFields | None = None) -> Case:
    """Replace a case's placeholder with the agent's transcription; the caller commits.

    The row is locked (``FOR UPDATE`` where the database has it) so two agents
    typing the same item cannot silently overwrite each other: the second one is
    refused with ``already`` unless ``replace_transcribed`` says a correction is
    meant. ``emergency`` is intake's R3.8 hint for the new text (e.g. "119"),
    recorded on the case when the placeholder had none.
    """
    body = text.strip()
    if not body:
        raise TranscriptionError("请填写内容", code="empty")
    if len(body) > MAX_TRANSCRIPTION_CHARS:
        raise TranscriptionError(f"内容过长：最多 {MAX_TRANSCRIPTION_CHARS} 字", code="too_long")
    case = (await session.execute(
        select(Case).where(Case.number == case_number).with_for_update())).scalar_one_or_none()
    if case is None:
        raise TranscriptionError(f"没有编号为 {case_number} 的案件", code="not_found")
    if case.channel not in PLACEHOLDERS:
        raise TranscriptionError("只有传真件和语音留言需要录入内容；其他渠道的诉求按原文登记",
                                 code="not_transcribable")
    if not awaits_transcription(case) and not replace_transcribed:
        raise TranscriptionError("这件诉求已由其他坐席录入", code="already")
    previous = case.text
    case.text = body
    data: dict[str, object] = {"previous_text": previous, "chars": len(body)}
    if emergency and not case.emergency:
        case.emergency = emergency
        data["emergency"] = emergency
    if fields is not None:
        if fields.category:
            case.notes = [n for n in case.notes if not n.startswith("category=")] + [
                f"category={fields.category}"]
            data["category"] = fields.category
        if fields.district:
            case.district_hint = fields.district
            data["district"] = fields.district
        if fields.reply_to:
            await _add_reply_contact(session, case, fields.reply_to, now)
            data["reply_to_added"] = True
    session.add(Event(case_id=case.id, at=now, actor=actor, action="transcribed",
                      from_state=None, to_state=None, reason=None, data=data))
    await session.flush()
    return case


async def due_for_speech(session: AsyncSession, *, limit: int,
                         max_attempts: int) -> list[tuple[int, AttachmentRecord]]:
    """Recordings awaiting transcription that no machine has transcribed yet, oldest first.

    Each comes with its first WAV attachment. A recording whose machine attempts
    failed ``max_attempts`` times is left to the agent alone. This scan is the
    job queue: nothing else needs to remember which recordings are waiting.
    """
    failures = (select(func.count()).select_from(Event)
                .where(Event.case_id == Case.id, Event.action == MACHINE_FAILED)
                .scalar_subquery())
    other = aliased(AttachmentRecord)
    audio = (select(func.min(other.id))
             .where(other.case_id == Case.id, other.content_type.in_(sorted(AUDIO_TYPES)))
             .correlate(Case).scalar_subquery())
    voice = [c for c, prefix in PLACEHOLDERS.items() if prefix == VOICE_PLACEHOLDER_PREFIX]
    rows = (await session.execute(
        select(Case.id, AttachmentRecord)
        .join(AttachmentRecord, AttachmentRecord.id == audio)
        .where(Case.channel.in_(voice),
               Case.text.startswith(VOICE_PLACEHOLDER_PREFIX, autoescape=True),
               ~exists().where(Event.case_id == Case.id,
                               Event.action.in_((MACHINE_DONE, MACHINE_REFUSED))),
               failures < max_attempts)
        .order_by(Case.received_at, Case.id).limit(limit))).all()
    return [(case_id, record) for case_id, record in rows]


async def record_machine_transcript(session: AsyncSession, case_id: int, transcript: Transcript, *,
                                    now: datetime, actor: str = "transcriber") -> bool:
    """Add what the recogniser heard after the placeholder, marked as machine text; the caller commits.

    The transcript with its word timings and confidence goes into the event's
    data in full; the case text gets the words (cut at ``MACHINE_TEXT_CHARS``)
    for the agent to check. Returns False, changing nothing, when an agent has
    transcribed the case meanwhile or another worker got there first.
    """
    case = (await session.execute(
        select(Case).where(Case.id == case_id).with_for_update())).scalar_one_or_none()
    if case is None or not awaits_transcription(case) or MACHINE_TEXT_MARK in case.text:
        return False
    done = await session.scalar(select(func.count()).select_from(Event).where(
        Event.case_id == case_id, Event.action == MACHINE_DONE))
    if done:
        return False
    heard = transcript.text.strip()
    if heard:
        case.text = f"{case.text}\n\n{MACHINE_TEXT_MARK}\n{heard[:MACHINE_TEXT_CHARS]}"
    session.add(Event(case_id=case_id, at=now, actor=actor, action=MACHINE_DONE, from_state=None,
                      to_state=None, reason=None, data=transcript.as_data()))
    await session.flush()
    return True


async def record_machine_failure(session: AsyncSession, case_id: int, reason: str, *,
                                 now: datetime, final: bool, actor: str = "transcriber") -> None:
    """Note a failed attempt; a ``final`` one (an unreadable file) ends the machine's tries."""
    session.add(Event(case_id=case_id, at=now, actor=actor,
                      action=MACHINE_REFUSED if final else MACHINE_FAILED, from_state=None,
                      to_state=None, reason=reason[:500], data={}))
    await session.flush()


__all__ = ["FAX_CHANNEL", "PLACEHOLDERS", "PLACEHOLDER_PREFIX", "TranscriptionError", "awaiting",
           "awaits_transcription", "due_for_speech", "record_machine_failure",
           "record_machine_transcript", "record_transcription"]
