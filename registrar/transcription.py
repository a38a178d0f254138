"""Faxes transcribed by an agent: the placeholder text becomes what the pages say (R5.1).

A fax arrives without text; the fax channel registers it with a placeholder
("[传真 2 页，待坐席录入]", perhaps followed by OCR text marked as machine text)
and the service centre types the content in. That is the one time a case's
registered text changes after registration, so it is recorded like any other
action: an ``Event`` "transcribed" keeps the previous text in its data, and the
page images stay attached. The event log, not the case row, is the history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registrar.models import Case, Event

FAX_CHANNEL = "fax"
PLACEHOLDER_PREFIX = "[传真"
"""How the fax channel's placeholder text starts (``channels.fax_smtp.envelope.placeholder``)."""
MAX_TRANSCRIPTION_CHARS = 5000


class TranscriptionError(ValueError):
    """The transcription cannot be recorded; ``reason`` says why in words for the agent."""

    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        """``not_found``, ``not_fax``, ``already``, ``empty`` or ``too_long``."""


def awaits_transcription(case: Case) -> bool:
    """True for a fax case whose text is still the channel's placeholder."""
    return case.channel == FAX_CHANNEL and case.text.startswith(PLACEHOLDER_PREFIX)


async def record_transcription(session: AsyncSession, case_number: str, text: str, *, actor: str,
                               now: datetime, emergency: str | None = None,
                               replace_transcribed: bool = False) -> Case:
    """Replace a fax case's placeholder with the agent's transcription; the caller commits.

    The row is locked (``FOR UPDATE`` where the database has it) so two agents
    typing the same fax cannot silently overwrite each other: the second one is
    refused with ``already`` unless ``replace_transcribed`` says a correction is
    meant. ``emergency`` is intake's R3.8 hint for the new text (e.g. "119"),
    recorded on the case when the placeholder had none.
    """
    body = text.strip()
    if not body:
        raise TranscriptionError("请填写传真内容", code="empty")
    if len(body) > MAX_TRANSCRIPTION_CHARS:
        raise TranscriptionError(f"内容过长：最多 {MAX_TRANSCRIPTION_CHARS} 字", code="too_long")
    case = (await session.execute(
        select(Case).where(Case.number == case_number).with_for_update())).scalar_one_or_none()
    if case is None:
        raise TranscriptionError(f"没有编号为 {case_number} 的案件", code="not_found")
    if case.channel != FAX_CHANNEL:
        raise TranscriptionError("只有传真件需要录入内容；其他渠道的诉求按原文登记", code="not_fax")
    if not awaits_transcription(case) and not replace_transcribed:
        raise TranscriptionError("这份传真已由其他坐席录入", code="already")
    previous = case.text
    case.text = body
    data: dict[str, object] = {"previous_text": previous, "chars": len(body)}
    if emergency and not case.emergency:
        case.emergency = emergency
        data["emergency"] = emergency
    session.add(Event(case_id=case.id, at=now, actor=actor, action="transcribed",
                      from_state=None, to_state=None, reason=None, data=data))
    await session.flush()
    return case


__all__ = ["FAX_CHANNEL", "PLACEHOLDER_PREFIX", "TranscriptionError", "awaits_transcription",
           "record_transcription"]
