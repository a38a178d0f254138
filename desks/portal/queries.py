"""What the portal reads and writes; nothing private ever leaves these functions unmasked."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contract.normalise import InvalidInput, normalise_phone
from forwarder.progress import AnswerDue, PublicStep, answer_due, public_steps
from forwarder.publication import mask_for_publication
from forwarder.rules import Clocks
from registrar.deadlines import DuePolicy
from registrar.models import (
    Assignment,
    AssignmentRole,
    AssignmentState,
    Case,
    CaseStatus,
    Classification,
    Deadline,
    Event,
    Rating,
    Unit,
)

PAGE_SIZE = 20
#: The rating in words, with the score each stands for (the figures average the scores).
RATING_WORDS: tuple[tuple[int, str], ...] = ((5, "满意"), (3, "基本满意"), (1, "不满意"))


def rating_word(score: int) -> str:
    """A stored score (1–5, older ratings used every step) as the word the citizen chose."""
    return "满意" if score >= 4 else "基本满意" if score == 3 else "不满意"


@dataclass(frozen=True, slots=True)
class Progress:
    """What the status page tells the citizen beyond the state: who handles it, by when, the steps."""

    units: str
    due: AnswerDue | None
    steps: list[PublicStep]


def like_escape(text: str) -> str:
    """``text`` for a LIKE pattern with ``\\`` as the escape: no wildcard of the caller's."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class RatingRefused(Exception):
    """The rating cannot be taken (not closed yet, already rated, bad score)."""


@dataclass(frozen=True, slots=True)
class PublicAnswer:
    number: str
    registered_at: datetime
    published_at: datetime
    summary: str
    answer: str
    units: str


@dataclass(frozen=True, slots=True)
class CaseState:
    """What a phone number alone may learn: a case's number and state, never its text."""

    number: str
    registered_at: datetime
    status: str


def public_summary(case: Case) -> str:
    """The complaint as published; cases published before it was stored are masked now, as
    ``decide_publication`` masks (``mask_for_publication``): a name marked only in the
    answer (已联系诉求人张三) is hidden in the complaint too."""
    if case.published_summary is not None:
        return case.published_summary
    return mask_for_publication(case.text, case.answer_text or "", names=[case.display_name or ""])[0]


async def lookup(session: AsyncSession, number: str, secret: str) -> Case | None:
    """The citizen's own case, by its number plus the query code from the receipt.

    Only the query code opens the text: a phone number is known to too many people."""
    number = number.strip().upper()
    secret = secret.strip().upper()
    if not number or not secret:
        return None
    case = (await session.execute(select(Case).where(Case.number == number))).scalar_one_or_none()
    return case if case is not None and secrets.compare_digest(secret, case.query_code) else None


def as_phone(secret: str) -> str | None:
    """The secret as a normalised phone number, or None when it is not one."""
    try:
        return normalise_phone(secret)
    except InvalidInput:
        return None


async def states_by_phone(session: AsyncSession, phone: str, *, limit: int = 50) -> list[CaseState]:
    """The number and state of each case that ``phone`` filed, newest first: no text."""
    rows = (await session.execute(
        select(Case.number, Case.registered_at, Case.status)
        .where(or_(Case.sender == phone, Case.reply_address == phone), Case.parent_case_id.is_(None))
        .order_by(Case.registered_at.desc(), Case.id.desc()).limit(limit))).all()
    return [CaseState(n, at, status) for n, at, status in rows]


async def rate(session: AsyncSession, case: Case, score: int, comment: str, *,
               now: datetime) -> Rating:
    """R12.1: one rating per answered case, by its citizen."""
    if case.status != CaseStatus.CLOSED:
        raise RatingRefused("案件办结后才能评价")
    if not 1 <= score <= 5:
        raise RatingRefused("请选择 1 到 5 分")
    rating = Rating(case_id=case.id, score=score, comment=comment.strip()[:500] or None,
                    created_at=now)
    try:
        async with session.begin_nested():
            session.add(rating)
    except IntegrityError:
        raise RatingRefused("您已评价过该案件") from None
    return rating


async def rating_of(session: AsyncSession, case: Case) -> Rating | None:
    return (await session.execute(select(Rating).where(Rating.case_id == case.id))).scalar_one_or_none()


def _published() -> list[ColumnElement[bool]]:
    return [Case.published_at.is_not(None), Case.classification == Classification.PUBLIC,
            Case.publication == "publish"]


def answered_by(*, district: str = "", unit: str = "") -> list[ColumnElement[bool]]:
    """Published cases answered by ``unit`` (its code) or by a unit of ``district``: the
    per-district and per-unit views (the unit that answered, as ``_public`` names it)."""
    out: list[ColumnElement[bool]] = []
    if district or unit:
        lead = (select(Assignment.id).join(Unit, Unit.id == Assignment.unit_id).where(
            Assignment.case_id == Case.id, Assignment.role == AssignmentRole.LEAD,
            Assignment.state == AssignmentState.PASSED))
        if district:
            lead = lead.where(Unit.district == district)
        if unit:
            lead = lead.where(Unit.code == unit)
        out.append(lead.exists())
    return out


async def public_answers(session: AsyncSession, *, q: str = "", page: int = 1, district: str = "",
                         unit: str = "", page_size: int = PAGE_SIZE) -> tuple[list[PublicAnswer], int]:
    """One page of published answers (R9.3), newest first, and the total count; optionally
    only those answered in one district or by one unit."""
    conditions = _published() + answered_by(district=district, unit=unit)
    if q.strip():
        # Only the published (masked) text is searched, and %, _ match themselves: a search
        # over the raw complaint would confirm masked digits one by one.
        like = "%" + like_escape(q.strip()) + "%"
        conditions.append(or_(Case.published_text.like(like, escape="\\"),
                              Case.published_summary.like(like, escape="\\")))
    total = int(await session.scalar(select(func.count()).select_from(Case).where(*conditions)) or 0)
    rows = (await session.execute(select(Case).where(*conditions)
                                  .order_by(Case.published_at.desc(), Case.id.desc())
                                  .offset((max(page, 1) - 1) * page_size).limit(page_size))).scalars().all()
    return [await _public(session, case) for case in rows], total


async def answering_units(session: AsyncSession) -> list[tuple[str, str, str | None]]:
    """(code, name, district) of every handling unit, for the portal's filters; public names."""
    rows = await session.execute(select(Unit.code, Unit.name, Unit.district).where(
        Unit.kind.in_(("city_unit", "district_unit")), Unit.active.is_(True)).order_by(Unit.id))
    return [(code, name, district) for code, name, district in rows]


async def public_answer(session: AsyncSession, number: str) -> PublicAnswer | None:
    case = (await session.execute(select(Case).where(Case.number == number.strip().upper(),
                                                     *_published()))).scalar_one_or_none()
    return None if case is None else await _public(session, case)


async def _public(session: AsyncSession, case: Case) -> PublicAnswer:
    units = (await session.execute(select(Unit.name).join(Assignment, Assignment.unit_id == Unit.id).where(
        Assignment.case_id == case.id, Assignment.role == AssignmentRole.LEAD,
        Assignment.state == AssignmentState.PASSED))).scalars().all()
    assert case.published_at is not None
    return PublicAnswer(case.number, case.registered_at, case.published_at, public_summary(case),
                        case.published_text or "", "、".join(dict.fromkeys(units)))


async def progress(session: AsyncSession, case: Case, *, due: DuePolicy | None, zone: tzinfo | None,
                   clocks: Clocks) -> Progress:
    """The handling units, the answer's due date (while one is awaited) and the public steps."""
    units = (await session.execute(select(Unit.name).join(Assignment, Assignment.unit_id == Unit.id).where(
        Assignment.case_id == case.id, Assignment.role == AssignmentRole.LEAD)
        .order_by(Assignment.id))).scalars().all()
    deadlines = list((await session.execute(select(Deadline).where(
        Deadline.case_id == case.id))).scalars())
    events = list((await session.execute(select(Event).where(Event.case_id == case.id)
                                         .order_by(Event.id))).scalars())
    waiting = case.status in (CaseStatus.REGISTERED, CaseStatus.ACCEPTED, CaseStatus.DISPATCHED,
                              CaseStatus.SPLIT)
    when = (answer_due(case.registered_at, deadlines, due=due, clocks=clocks, zone=zone or UTC)
            if due is not None and waiting else None)
    return Progress("、".join(dict.fromkeys(units)), when, public_steps(events))
