"""The ``PublicCases`` and ``ApiKeys`` ports over the registrar: what channels may read.

Everything a channel learns about a case passes through ``_public`` below, so
the rule "only what is public" lives in one place:

- a case is visible when it is a whole item (not a part of a split), its
  citizen allowed publication, and it is not classified internal (R4.3,
  R6.4); anything else is "not found", exactly like a number never given;
- texts are the published ones only (``published_summary``, ``published_text``,
  R9.3, already masked and edited by the bureau); before publication there is
  no text at all;
- the address is masked below the street and a position is coarsened to about
  100 m (three decimals), so a home cannot be found from either;
- no contact, sender, name, query code or attachment ever leaves.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contract.clock import Clock
from contract.public_cases import (
    CATEGORY_NOTE,
    Admission,
    CaseQuery,
    PublicCase,
    PublicUpdate,
    category_of,
    position_of,
)
from desks.portal.queries import like_escape, public_summary
from forwarder.publication import mask_personal_data
from registrar import open311_clients, throttle
from registrar.models import (
    Assignment,
    AssignmentRole,
    AssignmentState,
    Case,
    CaseStatus,
    Classification,
    Deadline,
    DeadlineKind,
    Event,
    Unit,
)

CLOSED_STATUSES = (CaseStatus.CLOSED, CaseStatus.NOT_ACCEPTED, CaseStatus.STOPPED)
#: Case-level steps the public may follow, with the words shown for each.
#: (``move_case`` logs ``case_<move>``; never the actor, reason or data: those are internal.)
PUBLIC_STEPS: dict[str, str] = {
    "registered": "已登记，转市信访局受理",
    "case_accept": "已受理",
    "case_dispatch": "已转交办理单位",
    "case_reopen": "重新交办",
    "case_answered": "办理单位已答复，审核通过",
    "case_not_accept": "不予受理（不属于12345受理范围）",
    "case_stop": "重复诉求，已答复过，不再交办",
    "case_close": "已办结，办理结果已告知诉求人",
}
POSITION_DECIMALS = 3

Sessions = Callable[[], async_sessionmaker[AsyncSession]]


def _visible() -> list[ColumnElement[bool]]:
    return [Case.parent_case_id.is_(None), Case.public_allowed.is_(True),
            or_(Case.classification.is_(None), Case.classification == Classification.PUBLIC)]


def _published(case: Case) -> bool:
    return case.publication == "publish" and case.published_at is not None


def _category_filter(categories: Sequence[str], uncategorised: bool) -> ColumnElement[bool]:
    """Notes are a JSON list; its text holds ``"category=…"`` exactly as ``json.dumps`` wrote it."""
    notes = cast(Case.notes, String)
    wanted = [notes.like("%" + like_escape(json.dumps(CATEGORY_NOTE + c)) + "%", escape="\\")
              for c in categories]
    if uncategorised:
        wanted.append(~notes.like("%" + like_escape(json.dumps(CATEGORY_NOTE)[:-1]) + "%",
                                  escape="\\"))
    return or_(*wanted)


class RegistrarPublicCases:
    """``contract.public_cases.PublicCases`` over the database (sessions made on demand)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def case(self, number: str, *, channel: str) -> PublicCase | None:
        async with self._sessions()() as session:
            row = (await session.execute(select(Case).where(
                Case.number == number.strip().upper(), *_visible()))).scalar_one_or_none()
            return None if row is None else (await _public(session, [row], channel))[0]

    async def cases(self, query: CaseQuery, *, channel: str) -> list[PublicCase]:
        conditions = _visible()
        if query.numbers:
            conditions.append(Case.number.in_([n.strip().upper() for n in query.numbers]))
        if query.categories or query.uncategorised:
            conditions.append(_category_filter(query.categories, query.uncategorised))
        if query.closed is not None:
            in_closed = Case.status.in_(CLOSED_STATUSES)
            conditions.append(in_closed if query.closed else ~in_closed)
        if query.since is not None:
            conditions.append(Case.received_at >= query.since)
        if query.until is not None:
            conditions.append(Case.received_at <= query.until)
        async with self._sessions()() as session:
            rows = (await session.execute(select(Case).where(*conditions).order_by(
                Case.received_at.desc(), Case.id.desc()).limit(max(query.limit, 0)))).scalars().all()
            return await _public(session, list(rows), channel)

    async def by_external_id(self, channel: str, external_id: str) -> str | None:
        async with self._sessions()() as session:
            return (await session.execute(select(Case.number).where(
                Case.channel == channel, Case.external_id == external_id))).scalar_one_or_none()

    async def updates(self, numbers: Sequence[str], *, since: datetime | None,
                      until: datetime | None, limit: int) -> list[PublicUpdate]:
        conditions = [*_visible(), Event.action.in_(PUBLIC_STEPS), Event.assignment_id.is_(None)]
        if numbers:
            conditions.append(Case.number.in_([n.strip().upper() for n in numbers]))
        if since is not None:
            conditions.append(Event.at >= since)
        if until is not None:
            conditions.append(Event.at <= until)
        async with self._sessions()() as session:
            rows = (await session.execute(select(Event, Case).join(Case, Case.id == Event.case_id)
                                          .where(*conditions).order_by(Event.at, Event.id)
                                          .limit(max(limit, 0)))).all()
        return [_update(event, case) for event, case in rows]


def _update(event: Event, case: Case) -> PublicUpdate:
    closed = event.to_state in CLOSED_STATUSES
    text = PUBLIC_STEPS[event.action]
    if event.action == "case_close" and _published(case) and case.published_text:
        text = case.published_text
    return PublicUpdate(update_id=str(event.id), case_number=case.number, closed=closed,
                        at=event.at, description=text)


async def _public(session: AsyncSession, cases: list[Case], channel: str) -> list[PublicCase]:
    """The public view of ``cases``: three queries for the whole page, never one per case."""
    if not cases:
        return []
    ids = [c.id for c in cases]
    agencies: dict[int, list[str]] = defaultdict(list)
    for case_id, name in await session.execute(
            select(Assignment.case_id, Unit.name).join(Unit, Unit.id == Assignment.unit_id)
            .where(Assignment.case_id.in_(ids), Assignment.role == AssignmentRole.LEAD,
                   Assignment.state != AssignmentState.WITHDRAWN).order_by(Assignment.id)):
        if name not in agencies[case_id]:
            agencies[case_id].append(name)
    expected: dict[int, datetime] = {}
    for case_id, due in await session.execute(
            select(Deadline.case_id, Deadline.due_at).join(
                Assignment, Assignment.id == Deadline.assignment_id)
            .where(Deadline.case_id.in_(ids), Deadline.kind == DeadlineKind.ANSWER,
                   Deadline.cancelled.is_(False), Assignment.role == AssignmentRole.LEAD)
            .order_by(Deadline.started_at, Deadline.id)):
        expected[case_id] = due  # the latest clock started wins
    updated: dict[int, datetime] = {case_id: at for case_id, at in await session.execute(
        select(Event.case_id, func.max(Event.at)).where(
            Event.case_id.in_(ids), Event.action.in_(PUBLIC_STEPS), Event.assignment_id.is_(None))
        .group_by(Event.case_id))}
    return [_one(c, agencies.get(c.id, []), expected.get(c.id), updated.get(c.id), channel)
            for c in cases]


def _one(case: Case, agencies: list[str], expected: datetime | None, updated: datetime | None,
         channel: str) -> PublicCase:
    published = _published(case)
    position = position_of(case.notes or [])
    if position is not None:
        position = (round(position[0], POSITION_DECIMALS), round(position[1], POSITION_DECIMALS))
    return PublicCase(
        number=case.number, closed=case.status in CLOSED_STATUSES,
        category=category_of(case.notes or []), requested_at=case.received_at,
        updated_at=max(filter(None, (updated, case.registered_at))),
        expected_at=expected, agencies=tuple(agencies),
        summary=public_summary(case) if published else None,
        answer=(case.published_text or None) if published else None,
        address=mask_personal_data(case.location_hint) if case.location_hint else None,
        position=position, channel=case.channel,
        external_id=case.external_id if case.channel == channel else None)


class RegistrarApiKeys:
    """``contract.public_cases.ApiKeys`` over ``registrar.open311_clients`` and the throttle."""

    def __init__(self, sessions: Sessions, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def admit(self, scope: str, key: str, *, free: int, window_s: float) -> Admission:
        if scope != "open311":
            return Admission(None)
        limit = throttle.Limit(free=free, window_s=window_s, max_wait_s=window_s)
        async with self._sessions().begin() as session:
            client, wait = await open311_clients.admit(session, key, limit, now=self._clock.now())
        return Admission(client, wait)
