"""The bureau's queue, the unit's inbox and case search: the lists staff work from.

Each list is a handful of queries whatever its length: assignments joined with
their case and unit, and the open clock that matters for the row joined in
the same query (so a page of 50 rows is one query per section, not 50). Lists
page with ``LIMIT n+1`` instead of counting. Who sees what follows the
workflow: the reviewer of an answer is ``workflow.reviewer_of``'s bureau, the
decider of a return ``workflow_special._dispatcher_of``'s; the filters here are
the same rules written as SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import ColumnElement, Select, and_, exists, func, literal_column, not_, null, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from config.organisation import UnitKind
from contract.normalise import whole_number
from desks.access.errors import ApiError
from desks.access.principal import Principal
from desks.api.routes import search_query
from desks.console.form import CATEGORIES
from desks.staff import pages_cases_detail
from desks.staff.auth_pages import render
from desks.staff.deps import DESK, current
from desks.staff.pages_cases_view import (
    ASSIGNMENT_ROLE,
    ASSIGNMENT_STATE,
    CASE_STATUS,
    CHANNELS,
    Clocks,
    DueView,
    excerpt,
    is_internal,
)
from forwarder.callbacks import dissatisfied_cases
from forwarder.workflow import CITY_LEVEL
from registrar.db import serial_plan
from registrar.models import (
    ASSIGNMENT_DRAFTED,
    ASSIGNMENT_OWING,
    Assignment,
    AssignmentRole,
    AssignmentState,
    Case,
    CaseStatus,
    Deadline,
    DeadlineKind,
    Role,
    Unit,
    inline,
)

PAGE_SIZE = 50
REFRESH_S = 60
"""The queue reloads itself this often (seconds) while nobody is typing on it."""
S = AssignmentState


@dataclass(slots=True)
class Row:
    """One line of a list: the case, and the assignment and clocks that put it there."""

    number: str
    channel: str
    received: str
    text: str
    status: str
    emergency: str | None
    internal: bool
    reserved: bool
    unit: str = ""
    state: str = ""
    note: str = ""
    dues: list[DueView] = field(default_factory=list)
    category: str = ""
    """What the agent filed the call as (城管, 住建 …), from the case's notes."""
    district: str = ""


def page_of(request: web.Request) -> int:
    return max(1, whole_number(request.query.get("page", "1"), maximum=1_000_000) or 1)


def clocks(request: web.Request) -> Clocks:
    deps = request.app[DESK]
    return Clocks(deps.calendar.zone, deps.ctx.clock.now(), deps.calendar)


def category_of(c: Case) -> str:
    """The category an agent filed (the ``category=`` note of a call or a transcription)."""
    return next((n.split("=", 1)[1] for n in reversed(c.notes) if n.startswith("category=")), "")


def case_row(c: Case, clk: Clocks, **extra: Any) -> Row:
    return Row(c.number, CHANNELS.get(c.channel, c.channel), clk.t(c.received_at), excerpt(c.text),
               CASE_STATUS.get(c.status, c.status), c.emergency, is_internal(c), c.reserved, **extra,
               category=category_of(c), district=c.district_hint or "")


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """The queue's filters: district and channel narrow the query; the category, kept in the
    case's notes, narrows the rows of the page shown."""

    district: str = ""
    channel: str = ""
    category: str = ""

    @classmethod
    def of(cls, request: web.Request) -> QueueFilter:
        q = request.query
        channel = q.get("channel", "")
        return cls(q.get("district", "")[:64], channel if channel in CHANNELS else "",
                   q.get("category", "")[:32])

    def where(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.district:
            out.append(Case.district_hint == self.district)
        if self.channel:
            out.append(Case.channel == self.channel)
        return out

    def keep(self, row: Row) -> bool:
        return not self.category or row.category == self.category


async def my_unit(session: AsyncSession, me: Principal) -> Unit:
    unit = (await session.execute(select(Unit).where(Unit.code == me.unit_code))).scalar_one_or_none()
    if unit is None:
        raise web.HTTPForbidden(text="账号未关联单位")
    return unit


# --- the bureau's queue ---------------------------------------------------------------


def reviewed_by(bureau: Unit) -> ColumnElement[bool]:
    """SQL for ``workflow.reviewer_of(case, unit) == bureau`` (R8.4a, R8.4d)."""
    if bureau.kind == UnitKind.CITY_BUREAU:
        return or_(Case.reserved.is_(True), Unit.kind.in_(list(CITY_LEVEL)), Unit.parent_code.is_(None))
    return and_(Case.reserved.is_(False), Unit.kind.not_in(list(CITY_LEVEL)),
                Unit.parent_code == bureau.code)


def return_decided_by(bureau: Unit) -> ColumnElement[bool]:
    """SQL for ``workflow_special._dispatcher_of(assignment, unit) == bureau`` (R8.3b, R8.3d)."""
    if bureau.kind == UnitKind.CITY_BUREAU:
        return or_(Assignment.role == AssignmentRole.BUREAU, Unit.kind.in_(list(CITY_LEVEL)),
                   Unit.parent_code.is_(None))
    return and_(Assignment.role != AssignmentRole.BUREAU, Unit.kind.not_in(list(CITY_LEVEL)),
                Unit.parent_code == bureau.code)


def publication_by(bureau: Unit) -> ColumnElement[bool]:
    """Answered items (R9) this bureau decides: a district its own; the city the rest."""
    a, u = aliased(Assignment), aliased(Unit)
    # OFFSET 0 keeps PostgreSQL from turning this EXISTS into a hashed set of every bureau
    # assignment ever made (a full scan per view); it stays a probe per listed case instead.
    via_district = exists(select(a.id).join(u, u.id == a.unit_id).where(
        a.case_id == Case.id, a.role == AssignmentRole.BUREAU,
        u.kind == UnitKind.DISTRICT_BUREAU).correlate(Case).offset(0))
    if bureau.kind == UnitKind.CITY_BUREAU:
        return or_(Case.reserved.is_(True), not_(via_district))
    mine = exists(select(a.id).where(a.case_id == Case.id, a.role == AssignmentRole.BUREAU,
                                     a.unit_id == bureau.id).correlate(Case))
    return and_(Case.reserved.is_(False), mine)


@dataclass(frozen=True, slots=True)
class Section:
    """One section of the queue: its rows are ``first``'s, then ``rest``'s if there is one.

    One query lists the section with its unmet clock outer-joined, most urgent first and the
    clockless last (``due_at NULLS LAST``), then oldest first. A section that walks splits that
    into the assignments with a clock, by due time (a walk of ``ix_deadline_unmet_kind_due``
    that stops at the page), and the clockless rest, asked only where the first ends: the same
    rows in the same order."""

    first: Select[Any]
    rest: Select[Any] | None = None


def by_clock(query: Select[Assignment, Case, Unit], state: AssignmentState, kind: DeadlineKind, *,
             walk: bool) -> Section:
    """The assignments of ``query`` in ``state`` as a ``Section`` by their unmet clock of ``kind``.

    ``walk``: the section spans most units (the city bureau's), so it walks the clocks. The
    planner takes the state and the clock as independent and, multiplying their selectivities,
    expects a handful of rows, so it would read every item in the state and sort them; asked
    in a subquery it cannot see into (``OFFSET 0``), the state is a filter on each clock walked.
    Without ``walk`` (a bureau's own queued items, a district's few units) one query with the
    plain predicate lets the planner start from those items (``ix_assignment_unit_state``): a
    district's are fewer than a walk of every bureau's clocks would read to keep one in twenty.
    """
    d, other = aliased(Deadline), aliased(Deadline)
    in_state = Assignment.state == inline(state)
    unmet = and_(d.assignment_id == Assignment.id, d.kind == inline(kind), d.met_at.is_(None))
    with_clock = query.add_columns(d.kind, d.due_at, d.warn_at, d.provisional)
    if not walk:
        return Section(with_clock.outerjoin(d, unmet).where(in_state)
                       .order_by(d.due_at.asc().nulls_last(), Case.registered_at, Assignment.id))
    clocked = (with_clock.join(d, unmet)
               .where(exists(select(literal_column("1")).where(in_state).correlate(Assignment).offset(0)))
               .order_by(d.due_at, Case.registered_at, Assignment.id))
    unclocked = ~exists(select(other.id).where(other.assignment_id == Assignment.id,
                                               other.kind == inline(kind), other.met_at.is_(None)))
    clockless = (query.add_columns(*(null() for _ in range(4))).where(in_state, unclocked)
                 .order_by(Case.registered_at, Assignment.id))
    return Section(clocked, clockless)


async def page_rows(session: AsyncSession, query: Select[*tuple[Any, ...]], page: int) -> list[Any]:
    """The rows of page ``page`` of ``query``, and one more if another page follows."""
    return list((await session.execute(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))).all())


async def first_then_rest(session: AsyncSession, first: Select[*tuple[Any, ...]],
                          rest: Select[*tuple[Any, ...]], page: int) -> list[Any]:
    """Rows of page ``page`` (and one more, to tell whether another page follows) of ``first``'s
    rows followed by ``rest``'s, each query its own walk: ``rest`` is asked only when ``first``
    ends on this page, and counted (the offset into ``rest``) only when it ended on an earlier one.
    """
    skip, wanted = (page - 1) * PAGE_SIZE, PAGE_SIZE + 1
    result = await page_rows(session, first, page)
    if len(result) < wanted:
        before = skip + len(result) if result or page == 1 else (await session.execute(
            select(func.count()).select_from(first.order_by(None).subquery()))).scalar_one()
        result += (await session.execute(
            rest.offset(max(0, skip - before)).limit(wanted - len(result)))).all()
    return result


async def _section(session: AsyncSession, section: Section, page: int, clk: Clocks,
                   note: Any = None) -> tuple[list[Row], bool]:
    result = await (page_rows(session, section.first, page) if section.rest is None
                    else first_then_rest(session, section.first, section.rest, page))
    rows: dict[int, Row] = {}
    for assignment, c, unit, kind, due_at, warn_at, provisional in result:
        if assignment.id in rows:
            continue  # a second open clock of the same kind: the first (earliest) shows
        rows[assignment.id] = case_row(
            c, clk, unit=unit.name, state=ASSIGNMENT_STATE.get(assignment.state, assignment.state),
            note=note(assignment) if note else "",
            dues=[d for d in [clk.due(kind, due_at, warn_at, provisional=bool(provisional))] if d])
    listed = list(rows.values())
    return listed[:PAGE_SIZE], len(result) > PAGE_SIZE


def _return_note(a: Assignment) -> str:
    return f"理由：{a.return_reason or '—'}；建议改由：{a.proposed_unit or '—'}"


def clock_sections(bureau: Unit, wanted: QueueFilter) -> dict[str, Section]:
    """The queue's sections listed by a clock: what to dispatch, answers to review, returns to
    decide; each as the walk by its clock and the clockless rest."""
    base = (select(Assignment, Case, Unit).join(Case, Case.id == Assignment.case_id)
            .join(Unit, Unit.id == Assignment.unit_id).where(*wanted.where()))
    # The city bureau's sections span most of the open work (every case is queued with it first,
    # most answers and returns are its to decide): they walk. A district's are its own few.
    walk = bureau.kind == UnitKind.CITY_BUREAU
    return {
        "queue": by_clock(base.where(Assignment.unit_id == bureau.id,
                                     Assignment.role == AssignmentRole.BUREAU),
                          S.QUEUED, DeadlineKind.DISPATCH, walk=walk),
        "review": by_clock(base.where(reviewed_by(bureau)), S.SUBMITTED, DeadlineKind.REVIEW, walk=walk),
        "returns": by_clock(base.where(return_decided_by(bureau)), S.RETURN_REQUESTED,
                            DeadlineKind.RETURN_DECISION, walk=walk),
    }


async def queue_sections(session: AsyncSession, bureau: Unit, page: int, clk: Clocks,
                         wanted: QueueFilter | None = None) -> tuple[dict[str, list[Row]], bool]:
    """The bureau's open work: screening/dispatch, reviews, return decisions, publication."""
    wanted = wanted or QueueFilter()
    sections: dict[str, list[Row]] = {}
    more = False
    for name, query in clock_sections(bureau, wanted).items():
        note = _return_note if name == "returns" else None
        rows, has_more = await _section(session, query, page, clk, note)
        sections[name] = [r for r in rows if wanted.keep(r)]
        more = more or has_more
    answered = list((await session.execute(
        select(Case).where(Case.status == CaseStatus.ANSWERED, Case.parent_case_id.is_(None),
                           publication_by(bureau), *wanted.where())
        .order_by(Case.registered_at, Case.id).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    )).scalars())
    sections["publication"] = [
        r for r in (case_row(c, clk, note="诉求人同意公开" if c.public_allowed else "诉求人不同意公开")
                    for c in answered[:PAGE_SIZE]) if wanted.keep(r)]
    # R12 回访: dissatisfied call-backs wait for the city bureau's review, redo or note.
    sections["dissatisfied"] = [
        case_row(c, clk, note=f"回访不满意 {clk.t(at)}") for c, at in
        await dissatisfied_cases(session)] if bureau.kind == UnitKind.CITY_BUREAU else []
    return sections, more or len(answered) > PAGE_SIZE


async def queue_page(request: web.Request) -> web.Response:
    """GET /desk/queue: a bureau's open work, each row with the clock that matters for it."""
    me = current(request).principal
    if me.role not in (Role.CITY_BUREAU, Role.DISTRICT_BUREAU):
        raise web.HTTPForbidden(text="待办队列仅供信访局使用")
    page, clk, wanted = page_of(request), clocks(request), QueueFilter.of(request)
    refresh = whole_number(request.query.get("refresh", ""), maximum=600) or REFRESH_S
    async with request.app[DESK].sessionmaker() as session:
        bureau = await my_unit(session, me)
        sections, more = await queue_sections(session, bureau, page, clk, wanted)
        districts = list((await session.execute(select(Unit.district).where(
            Unit.kind == UnitKind.DISTRICT_BUREAU).order_by(Unit.id))).scalars())
    return render(request, "desk_queue.html", {
        "bureau": bureau.name, "sections": sections, "page": page, "more": more,
        "wanted": wanted, "districts": [d for d in districts if d], "categories": CATEGORIES,
        "channels": CHANNELS, "refresh": max(5, refresh), "now": clk.t(clk.now)})


# --- the unit's inbox ------------------------------------------------------------------


def owing_query(unit: Unit, where: ColumnElement[bool]) -> Select[Assignment, Case]:
    """The unit's assignments matching ``where`` (``ASSIGNMENT_OWING`` or ``_DRAFTED``), oldest
    first: the predicate of a partial index, so the page walks that index and stops, however
    many items the unit owes."""
    return (select(Assignment, Case).join(Case, Case.id == Assignment.case_id)
            .where(Assignment.unit_id == unit.id, where).order_by(Assignment.created_at, Assignment.id))


async def inbox_rows(session: AsyncSession, unit: Unit, page: int, clk: Clocks, *,
                     leader: bool) -> tuple[list[Row], bool]:
    """The unit's assignments still owing work; a leader's drafts to approve first (R8.2c).

    A leader's page is the drafts' part of it and then the rest's, each its own index walk
    (one ``ORDER BY drafted first`` would have to sort all the unit owes)."""
    if not leader:
        result = await page_rows(session, owing_query(unit, ASSIGNMENT_OWING), page)
    else:
        result = await first_then_rest(
            session, owing_query(unit, ASSIGNMENT_DRAFTED),
            owing_query(unit, ASSIGNMENT_OWING).where(Assignment.state != S.DRAFTED), page)
    shown = result[:PAGE_SIZE]
    open_clocks: dict[int, list[Deadline]] = {}
    if shown:
        for d in (await session.execute(select(Deadline).where(
                Deadline.assignment_id.in_([a.id for a, _ in shown]), Deadline.met_at.is_(None),
                Deadline.kind.in_([DeadlineKind.READ, DeadlineKind.ANSWER, DeadlineKind.REDO]))
                .order_by(Deadline.due_at))).scalars():
            open_clocks.setdefault(d.assignment_id, []).append(d)
    rows = [case_row(c, clk, unit=ASSIGNMENT_ROLE.get(a.role, a.role),
                     state=ASSIGNMENT_STATE.get(a.state, a.state),
                     note="待我审批" if leader and a.state == S.DRAFTED else "",
                     dues=[clk.deadline(d) for d in open_clocks.get(a.id, [])])
            for a, c in shown]
    return rows, len(result) > PAGE_SIZE


async def inbox_page(request: web.Request) -> web.Response:
    """GET /desk/inbox: what the unit must read, answer or approve, with due dates (R8.1, R8.2)."""
    me = current(request).principal
    if me.role not in (Role.UNIT_HANDLER, Role.UNIT_LEADER, Role.DISCIPLINE):
        raise web.HTTPForbidden(text="收件箱仅供承办单位使用")
    page, clk = page_of(request), clocks(request)
    async with request.app[DESK].sessionmaker() as session:
        unit = await my_unit(session, me)
        rows, more = await inbox_rows(session, unit, page, clk, leader=me.role == Role.UNIT_LEADER)
    approvals = [r for r in rows if r.note]
    return render(request, "desk_inbox.html", {
        "unit": unit.name, "approvals": approvals, "rows": [r for r in rows if not r.note],
        "leader": me.role == Role.UNIT_LEADER, "page": page, "more": more})


# --- search ----------------------------------------------------------------------------


SEARCH_YEARS = (1970, 2200)
"""Dates outside these years find nothing and would overflow once put in UTC (0001-01-01)."""


def _day(text: str) -> date | None:
    try:
        day = date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        raise ApiError.invalid("日期格式应为 YYYY-MM-DD") from None
    if day is not None and not SEARCH_YEARS[0] <= day.year <= SEARCH_YEARS[1]:
        raise ApiError.invalid(f"日期应在 {SEARCH_YEARS[0]} 至 {SEARCH_YEARS[1]} 年之间")
    return day


async def search_page(request: web.Request) -> web.Response:
    """GET /desk/search: number, phone, text, unit, status and date range; visible cases only."""
    me = current(request).principal
    params = {k: request.query.get(k, "").strip()
              for k in ("number", "phone", "q", "unit", "status", "from", "to")}
    page, clk = page_of(request), clocks(request)
    zone = request.app[DESK].calendar.zone
    rows: list[Row] = []
    more, error = False, ""
    searched = any(params.values())
    async with request.app[DESK].sessionmaker() as session:
        units = list((await session.execute(select(Unit.code, Unit.name).order_by(Unit.id))).all())
        if searched:
            try:
                query = search_query(me, params)
                if start := _day(params["from"]):
                    query = query.where(Case.received_at >= datetime.combine(start, time(0), zone))
                if end := _day(params["to"]):
                    query = query.where(Case.received_at < datetime.combine(end + timedelta(days=1),
                                                                             time(0), zone))
                await serial_plan(session)
                found = list((await session.execute(
                    query.order_by(Case.registered_at.desc(), Case.id.desc())
                    .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))).scalars())
                rows = [case_row(c, clk) for c in found[:PAGE_SIZE]]
                more = len(found) > PAGE_SIZE
            except ApiError as exc:
                error = exc.message
    return render(request, "desk_search.html", {
        "params": params, "rows": rows, "more": more, "page": page, "error": error,
        "searched": searched, "units": units, "statuses": CASE_STATUS}, status=400 if error else 200)


def add_case_pages(app: web.Application) -> None:
    """Mount the queue, inbox, search and case pages."""
    app.router.add_get("/desk/queue", queue_page)
    app.router.add_get("/desk/inbox", inbox_page)
    app.router.add_get("/desk/search", search_page)
    app.router.add_get("/desk/cases/{number}", pages_cases_detail.case_page)
