"""Satisfaction call-backs by SMS and by keypad call (回访, R12; issue 14.4).

Once the answer to a case has gone out by SMS, the citizen is asked on the
same channel to rate it ("回复1满意，2基本满意，3不满意"); an answer heard in a
call, and any answer to a case that came by phone when the site calls out
(``worker.voice_channel``), is followed by a call with a keypad menu whose key
the outbox records through ``record_callback`` (``Heard.key``; Twilio's menu
goes through ``SmsCommands.rate`` like an SMS reply). The request is queued by
the outbox itself when it records the answer as sent (a call: heard), so it
never overtakes an answer that is still being retried, and a citizen whose
answer never left gets no request. It is non-essential: a number that sent
``TD`` is not asked.

A reply is a rating only while a request to that number is open: sent less
than ``[supervision] callback_window_days`` ago, on a case with no call-back
rating for that request yet. Otherwise a bare "1" is an ordinary item (the SMS
channels decide through ``SmsCommands.rate``). The rating is stored in
``callback_rating`` (the service centre's call-back satisfaction, beside the
portal's ``rating``), one per request; the cockpit, the bulletins and the yearly
ranking read both. "Dissatisfied" opens the regulation's path: a
``callback_dissatisfied`` event, which the city bureau's follow-up list
(``dissatisfied_cases``) shows until it reviews the case, orders it redone or
submits it to the efficiency office (``forwarder.callback_followups``). A case
redone is asked again once its new answer is sent: each answer is asked about once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from config.notices import render_notice
from contract.contact_kinds import SMS_CHANNELS
from contract.envelope import Channel
from contract.notice import RATING_REQUEST
from registrar.models import Case, Event, Notice, NoticeStatus, Rating
from registrar.models_cockpit import CallbackRating

#: Kind of the outbox notice that asks for the rating (the voice channels' keypad menu too).
REQUEST_KIND = RATING_REQUEST
#: Notice kinds after whose sending the citizen is asked.
ANSWER_KINDS = frozenset({"answer"})
#: Channels that ask in an outbound call with a keypad menu (按1满意…), and the phone cases'
#: own channels, whose citizen is asked by a call wherever the answer went.
CALL_CHANNELS = frozenset({Channel.PHONE, Channel.TWILIO_VOICE})
ACTOR = "callback"


@dataclass(frozen=True, slots=True)
class Choice:
    """One answer the citizen can give, and the 1–5 score it counts as.

    满意 and 基本满意 both count as satisfied in the city's satisfaction rate, so
    基本满意 scores 4 (not the middle, 3); 不满意 scores the bottom of the scale.
    """

    label: str
    score: int


CHOICES: dict[int, Choice] = {1: Choice("满意", 5), 2: Choice("基本满意", 4),
                              3: Choice("不满意", 1)}
DISSATISFIED = 3


async def already_asked(session: AsyncSession, answer: Notice) -> bool:
    """True when ``answer`` was asked about already, or the citizen rated the case on the portal.

    A request made after this answer (a higher notice id) is this answer's; an earlier
    one asked about an answer the city bureau has since had redone."""
    asked = await session.execute(select(
        exists().where(Notice.case_id == answer.case_id, Notice.kind == REQUEST_KIND,
                       Notice.id > answer.id)
        | exists().where(Rating.case_id == answer.case_id)))
    return bool(asked.scalar())


async def request_rating(session: AsyncSession, answer: Notice, *, now: datetime,
                         window_days: int, voice_channel: str = "") -> Notice | None:
    """Queue the rating request after ``answer`` reached the citizen, once per case.

    By SMS after an SMS answer; by a keypad call after an answer heard in a call,
    and for a case that came by phone when the site calls out (``voice_channel``).
    Called in the transaction that records the answer as sent (or heard);
    returns the new notice, or None when this answer asks for nothing (not an
    answer, no channel that asks, already asked or rated).
    """
    asking = SMS_CHANNELS | CALL_CHANNELS
    if (answer.kind not in ANSWER_KINDS or answer.channel not in asking
            or not answer.address or answer.case_id is None):
        return None
    if await already_asked(session, answer):
        return None
    case = await session.get(Case, answer.case_id)
    if case is None:
        return None
    channel = answer.channel
    if voice_channel and case.channel in CALL_CHANNELS:
        channel = voice_channel  # 回访 of a phone case: a call, also to a mobile
    values = {"number": case.number, "days": str(window_days)}
    request = Notice(case_id=case.id, kind=REQUEST_KIND, channel=channel,
                     address=answer.address, text=render_notice(
                         REQUEST_KIND, channel, values, language=case.language),
                     template_values=values, status=NoticeStatus.PENDING, essential=False,
                     attempts=0, created_at=now, next_attempt_at=now, sent_at=None,
                     provider_ref=None, last_error=None)
    session.add(request)
    await session.flush()
    session.add(Event(case_id=case.id, at=now, actor=ACTOR, action="rating_requested",
                      from_state=None, to_state=None, reason=None, deadline=None,
                      data={"notice": request.id, "channel": channel,
                            "answer_notice": answer.id, "window_days": window_days}))
    return request


async def open_request(session: AsyncSession, sender: str, *, now: datetime,
                       window_days: int) -> Notice | None:
    """The newest rating request sent to ``sender`` within the window that is unanswered."""
    sent = (NoticeStatus.SENT, NoticeStatus.DELIVERED)
    query = (select(Notice).where(
        Notice.kind == REQUEST_KIND, Notice.address == sender, Notice.status.in_(sent),
        Notice.sent_at >= now - timedelta(days=window_days),
        ~exists().where(CallbackRating.request_notice_id == Notice.id))
        .order_by(Notice.sent_at.desc(), Notice.id.desc()).limit(1))
    return (await session.execute(query)).scalar_one_or_none()


async def record_callback(session: AsyncSession, request: Notice, choice: int, *, via: str,
                          now: datetime) -> CallbackRating:
    """Store the citizen's ``choice`` on the request's case, with its events.

    ``via`` says where it came from (``sms_modem``, ``sms_twilio``), kept in
    ``recorded_by`` so the cockpit can tell an SMS reply from an agent's call.
    """
    picked = CHOICES[choice]
    rating = CallbackRating(case_id=request.case_id, request_notice_id=request.id,
                            score=picked.score, comment=picked.label,
                            recorded_by=f"citizen:{via}", created_at=now)
    session.add(rating)
    session.add(Event(case_id=request.case_id, at=now, actor=ACTOR, action="callback_rated",
                      from_state=None, to_state=None, reason=picked.label, deadline=None,
                      data={"choice": choice, "score": picked.score, "via": via,
                            "request_notice": request.id}))
    if choice == DISSATISFIED:
        session.add(Event(case_id=request.case_id, at=now, actor=ACTOR,
                          action="callback_dissatisfied", from_state=None, to_state=None,
                          reason="回访不满意：待市级平台复核，必要时责成重办或提交效能办",
                          deadline=None, data={"follow_up": "review", "via": via}))
    await session.flush()
    return rating


def open_dissatisfied() -> ColumnElement[bool]:
    """``Event`` is a ``callback_dissatisfied`` that no ``callback_followed_up`` came after.

    Paired by order, not by count: a case redone and rated 3 again waits once more."""
    done = aliased(Event)
    return and_(Event.action == "callback_dissatisfied", ~exists().where(
        done.case_id == Event.case_id, done.action == "callback_followed_up", done.id > Event.id))


async def dissatisfied_cases(session: AsyncSession, *,
                             limit: int = 100) -> list[tuple[Case, datetime]]:
    """The city bureau's follow-up list: each case with a dissatisfied call-back that no one
    has followed up yet, and when; oldest first."""
    rows = (await session.execute(
        select(Case, Event.at).join(Event, Event.case_id == Case.id)
        .where(open_dissatisfied()).order_by(Event.at, Case.id).limit(limit))).all()
    return [(case, at) for case, at in rows]


#: How the city bureau closes a dissatisfied call-back (the regulation's path); what each
#: does is in ``forwarder.callback_followups``.
FOLLOW_UPS: dict[str, str] = {"review": "复核后维持答复", "redo": "责成承办单位重新办理",
                              "efficiency_office": "提交效能办"}
