"""Answers to citizens' SMS keywords (``CX <number>``, ``TD``), over the registrar.

A case's status is told only to the phone number that filed it (or the one it
replies to): anyone else gets the same "not found" as for a wrong number, so a
number cannot be probed.

Every answer is an outbox notice (kind ``keyword_reply``), so a failed send is
retried like any notice and each answer leaves a trace: queued for the outbox
when the channel sends nothing itself (the modem), recorded as sent in reply
when the channel answers in its response (Twilio's TwiML, as the receipt is).
An answer about a case is a notice on that case (the desk sees what the citizen
was told); an unsubscribe is recorded on the number's latest case. An answer
that concerns no case ("not found", the help text, ``TD`` from a number that
filed nothing) is a case-less notice (``case_id`` NULL): the outbox sends it the
same way, but it has no case log and no fallback.

A bare "1"/"2"/"3" is a rating (R12 回访) only when the number has an open
rating request (``forwarder.callbacks.open_request``); otherwise ``rate``
declines and the channel registers the message as an ordinary item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.notices import render_notice
from contract.clock import Clock
from contract.envelope import TryLater
from contract.sms_keywords import QUERY_HELP_TEXT, RatingTaken
from forwarder.callbacks import CHOICES, DISSATISFIED, open_request, record_callback
from forwarder.rules import CITIZEN_STATUS
from registrar.models import Case, Contact, Notice, NoticeStatus

NOT_FOUND = "【12345】未找到编号为{number}的诉求，请核对编号；只能查询本手机号提交的诉求。"
STATUS = "【12345】您的诉求{number}：{status}。"
UNSUBSCRIBED = "【12345】已为您退订进度提醒短信；受理回执和办理结果仍会发送给您。"
KIND = "keyword_reply"


def _reply_notice(case_id: int | None, *, channel: str, address: str, text: str, in_reply: bool,
                  now: datetime) -> Notice:
    """The answer as an outbox row: pending for the outbox, or already sent in reply
    (``case_id`` None when it concerns no case)."""
    return Notice(case_id=case_id, kind=KIND, channel=channel, address=address, text=text,
                  status=NoticeStatus.SENT if in_reply else NoticeStatus.PENDING,
                  essential=True, attempts=0, created_at=now,
                  next_attempt_at=None if in_reply else now, sent_at=now if in_reply else None,
                  provider_ref=f"in-reply:{channel}" if in_reply else None, last_error=None)


@dataclass(slots=True)
class RegistrarSmsCommands:
    """``contract.sms_keywords.SmsCommands`` answered from the database."""

    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    callback_window_days: int = 7

    async def _reply(self, case_id: int | None, text: str, sender_e164: str, *, channel: str,
                     in_reply: bool, session: AsyncSession | None = None) -> str | None:
        """Record ``text`` as the answer to ``sender_e164`` (in ``session``, else in its own
        transaction); the text when the channel answers in its response, else None."""
        notice = _reply_notice(case_id, channel=channel, address=sender_e164, text=text,
                               in_reply=in_reply, now=self.clock.now())
        if session is not None:
            session.add(notice)
        else:
            try:
                async with self.sessionmaker.begin() as own:
                    own.add(notice)
            except (SQLAlchemyError, OSError) as exc:
                raise TryLater("the registry is unavailable") from exc
        return text if in_reply else None

    async def query_help(self, sender_e164: str, *, channel: str,
                         in_reply: bool) -> str | None:
        return await self._reply(None, QUERY_HELP_TEXT, sender_e164, channel=channel,
                                 in_reply=in_reply)

    async def case_status(self, case_number: str, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        number = case_number.strip().upper()
        try:
            async with self.sessionmaker.begin() as session:
                case = (await session.execute(select(Case).where(
                    Case.number == number,
                    or_(Case.sender == sender_e164, Case.reply_address == sender_e164),
                ))).scalar_one_or_none()
                if case is None:
                    text, case_id = NOT_FOUND.format(number=number), None
                else:
                    text, case_id = STATUS.format(
                        number=case.number,
                        status=CITIZEN_STATUS.get(case.status, case.status)), case.id
                return await self._reply(case_id, text, sender_e164, channel=channel,
                                         in_reply=in_reply, session=session)
        except (SQLAlchemyError, OSError) as exc:
            raise TryLater("the registry is unavailable") from exc

    async def unsubscribe(self, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        try:
            async with self.sessionmaker.begin() as session:
                await session.execute(update(Contact).where(
                    Contact.kind == "phone", Contact.address == sender_e164).values(opted_out=True))
                latest = (await session.execute(
                    select(Case.id).where(or_(Case.sender == sender_e164,
                                              Case.reply_address == sender_e164))
                    .order_by(Case.received_at.desc(), Case.id.desc()).limit(1)
                )).scalar_one_or_none()
                return await self._reply(latest, UNSUBSCRIBED, sender_e164, channel=channel,
                                         in_reply=in_reply, session=session)
        except (SQLAlchemyError, OSError) as exc:
            raise TryLater("the registry is unavailable") from exc

    async def rate(self, choice: int, sender_e164: str, *, channel: str,
                   in_reply: bool) -> RatingTaken:
        try:
            async with self.sessionmaker.begin() as session:
                now = self.clock.now()
                request = await open_request(session, sender_e164, now=now,
                                             window_days=self.callback_window_days)
                if request is None or choice not in CHOICES:
                    return RatingTaken(taken=False)
                await record_callback(session, request, choice, via=channel, now=now)
                case = await session.get(Case, request.case_id)
                assert case is not None
                kind = "rating_followup" if choice == DISSATISFIED else "rating_thanks"
                label = CHOICES[choice].label
                if case.language == "zh-Hant":
                    label = label.replace("满", "滿")
                text = render_notice(kind, channel, {"number": case.number, "label": label},
                                     language=case.language)
                reply = _reply_notice(case.id, channel=channel, address=sender_e164, text=text,
                                      in_reply=in_reply, now=now)
                reply.kind = kind
                session.add(reply)
        except (SQLAlchemyError, OSError) as exc:
            raise TryLater("the registry is unavailable") from exc
        return RatingTaken(taken=True, reply=text if in_reply else None)
