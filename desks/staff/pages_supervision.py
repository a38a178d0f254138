"""The efficiency office's supervision desk (R11.1) and the yearly commendation ranking (R12.1).

One page, a period and a district: how bureaus dispatched and units read,
answered and passed review against their clocks (``forwarder.supervision``),
what the sweeper charged to whom (its efficiency events), and the year's
ranking. The same figures download as CSV: the periodic report R11.1 asks the
office to publish. Every figure comes from a handful of grouped queries over
indexed columns and a capped list of events; no page reads all cases.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from contract.normalise import whole_number
from desks.staff.auth_pages import render
from desks.staff.deps import DESK, current
from desks.staff.pages_cases_view import CASE_STATUS
from forwarder.knowledge import consultations
from forwarder.ranking import Ranking, formula_text, ranking
from forwarder.supervision import UnitStats, late, on_time
from forwarder.supervision_summary import period_stats
from registrar.models import (
    EVENT_EFFICIENCY,
    Assignment,
    AssignmentRole,
    Case,
    Deadline,
    DeadlineKind,
    Event,
    Role,
    Unit,
)
from registrar.models_supervision import Finding, FindingStatus

ROLES = frozenset({Role.EFFICIENCY, Role.CITY_BUREAU, Role.ADMIN})
PERIODS = {"this_month": "本月", "last_month": "上月", "this_year": "本年", "custom": "自定义"}
#: The efficiency events (``registrar.models.EFFICIENCY_ACTIONS``), as the office names them.
ACTIONS = {"late_read": "逾期未阅（R8.1）", "overdue_handling": "逾期办理", "expired_unhandled": "过期未处理",
           "unit_notified": "通报", "efficiency_warning": "效能告诫"}
EVENT_LIMIT = 200
COLUMNS: tuple[tuple[str, str], ...] = (
    ("dispatched", "交办件数"), ("read_on_time", "按时阅办"), ("read_late", "逾期阅办"),
    ("answered_on_time", "按时答复"), ("answered_late", "逾期答复"), ("overdue_handling", "逾期办理"),
    ("expired_unhandled", "过期未处理"), ("passed_first_time", "一次审核通过"), ("ratings", "评价数"),
    ("charges", "认定问题"), ("waived", "免责或撤销"), ("notices", "效能办通报"),
    ("callbacks", "回访评价数"),
)
#: Columns that are marks against the unit (shown in red when not zero).
BAD = frozenset({"read_late", "answered_late", "overdue_handling", "expired_unhandled", "charges",
                 "notices"})


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in the city's zone, with the form values that chose it."""

    key: str
    start: datetime
    end: datetime
    first: date
    last: date

    @property
    def label(self) -> str:
        return f"{self.first.isoformat()} 至 {self.last.isoformat()}"


def choose_period(query: dict[str, str], today: date, zone: Any) -> Period:
    """This month (default), last month, this year, or custom dates (both inclusive)."""
    key = query.get("period", "this_month")
    first, last = today.replace(day=1), today
    if key == "last_month":
        last = first - timedelta(days=1)
        first = last.replace(day=1)
    elif key == "this_year":
        first = date(today.year, 1, 1)
    elif key == "custom":
        try:
            first = date.fromisoformat(query.get("from", ""))
            last = date.fromisoformat(query.get("to", ""))
        except ValueError:
            raise web.HTTPBadRequest(text="自定义期间须填写起止日期 YYYY-MM-DD") from None
        if last < first or (last - first).days > 3 * 366:
            raise web.HTTPBadRequest(text="起止日期有误（结束不得早于开始，最长三年）")
    else:
        key = "this_month"
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    return Period(key, start, end, first, last)


def totals(stats: list[UnitStats]) -> dict[str, Any]:
    """Column sums; the portal's and the call-backs' (回访, R12) average scores, each weighted
    by its number of ratings."""
    out: dict[str, Any] = {name: sum(getattr(s, name) for s in stats) for name, _ in COLUMNS}
    out["rating_avg"] = _weighted([(s.rating_avg, s.ratings) for s in stats])
    out["callback_avg"] = _weighted([(s.callback_avg, s.callbacks) for s in stats])
    return out


def _weighted(pairs: list[tuple[float | None, int]]) -> float | None:
    """The mean of averages weighted by their counts; None when nothing was rated."""
    rated = [(avg, n) for avg, n in pairs if avg is not None and n]
    return round(sum(avg * n for avg, n in rated) / sum(n for _, n in rated), 2) if rated else None


async def districts(session: AsyncSession) -> list[str]:
    rows = (await session.execute(select(Unit.district).where(
        Unit.kind == "district_bureau", Unit.district.is_not(None)).order_by(Unit.id))).scalars()
    return [d for d in rows if d]


def allowed_district(request: web.Request, wanted: str, known: list[str]) -> str | None:
    """A district efficiency office supervises its own district only; others choose."""
    me = current(request).principal
    if me.role not in ROLES:
        raise web.HTTPForbidden(text="仅效能办、市信访局和系统管理员可用")
    if me.role == Role.EFFICIENCY and me.unit_district:
        return me.unit_district
    return wanted if wanted in known else None


def dispatch_clocks(period: Period, district: str | None) -> Select[Any]:
    """Per bureau: (name, items queued, dispatched on time, late) of the period's bureau
    assignments (the district's, given one) and their dispatch clocks.

    The period's bureau assignments are taken first (``queued``), then the dispatch
    clocks of their id range as one range of ``ix_deadline_assignment_id``
    (``clocks``), and the two are joined by hash; ``MATERIALIZED`` keeps the
    planner from folding them back into one join (written for PostgreSQL only:
    SQLite before 3.35 rejects the word). Joined directly, PostgreSQL
    probes the index once per assignment, four buffers each at 1 000 000 cases
    (23 000 for the bench's two days) where a hash join at 10 000 reads 700: the
    range costs what the period holds, whatever the history behind it. The
    bounds are ``min``/``max`` over ``queued``, not over ``assignment``, where the
    planner would walk the primary key from its low end through the history."""
    conditions = [Assignment.role == AssignmentRole.BUREAU, Assignment.created_at >= period.start,
                  Assignment.created_at < period.end]
    queued_rows = select(Assignment.id, Assignment.unit_id)
    if district is not None:
        queued_rows = queued_rows.join(Unit, Unit.id == Assignment.unit_id)
        conditions.append(Unit.district == district)
    queued = (queued_rows.where(*conditions).cte("queued")
              .prefix_with("MATERIALIZED", dialect="postgresql"))
    clocks = (select(Deadline.assignment_id, Deadline.kind, Deadline.met_at, Deadline.due_at,
                     Deadline.missed, Deadline.cancelled)
              .where(Deadline.kind == DeadlineKind.DISPATCH, Deadline.assignment_id.between(
                  select(func.min(queued.c.id)).scalar_subquery(),
                  select(func.max(queued.c.id)).scalar_subquery()))
              .cte("clocks").prefix_with("MATERIALIZED", dialect="postgresql"))
    clock = aliased(Deadline, clocks)
    return (select(Unit.name, func.count(func.distinct(queued.c.id)),
                   on_time(DeadlineKind.DISPATCH, clock), late(DeadlineKind.DISPATCH, clock=clock))
            .join(queued, queued.c.unit_id == Unit.id)
            .join(clock, clock.assignment_id == queued.c.id)
            .group_by(Unit.id, Unit.name).order_by(Unit.id))


async def bureau_dispatch(session: AsyncSession, period: Period, district: str | None
                          ) -> list[tuple[str, int, int, int]]:
    """Per bureau: (name, items queued, dispatched on time, late) — the dispatch clocks (R7.2, R7.3),
    counted as ``forwarder.supervision`` counts clocks (a cancelled clock neither way)."""
    rows = await session.execute(dispatch_clocks(period, district))
    return [(name, int(n), int(ok or 0), int(late or 0)) for name, n, ok, late in rows]


async def intake_counts(session: AsyncSession, period: Period) -> dict[str, int]:
    """Cases registered in the period by status: acceptance at a glance (city-wide)."""
    rows = await session.execute(select(Case.status, func.count()).where(
        Case.registered_at >= period.start, Case.registered_at < period.end).group_by(Case.status))
    return {str(status): int(n) for status, n in rows}


def _events(period: Period, district: str | None, *columns: Any) -> Select[Any]:
    """``columns`` of the period's efficiency events (the district's, given one), with the
    assignment and unit each is charged on. ``EVENT_EFFICIENCY`` rather than a bound ``IN``
    list: it is the predicate of the partial index ``newest_events`` walks."""
    conditions = [EVENT_EFFICIENCY, Event.at >= period.start, Event.at < period.end]
    if district is not None:
        conditions.append(Unit.district == district)
    return (select(*columns).select_from(Event)
            .outerjoin(Assignment, Assignment.id == Event.assignment_id)
            .outerjoin(Unit, Unit.id == Assignment.unit_id).where(*conditions))


def newest_events(period: Period, district: str | None) -> Select[Any]:
    """The period's ``EVENT_LIMIT`` newest efficiency events, in the order of
    ``ix_event_efficiency_at``: city-wide a walk of that many entries, however many
    the period holds."""
    return (_events(period, district, Event.at, Event.action, Event.data, Event.reason,
                    Case.number, Unit.code, Event.assignment_id)
            .join(Case, Case.id == Event.case_id)
            .order_by(Event.at.desc(), Event.id.desc()).limit(EVENT_LIMIT))


async def efficiency_events(session: AsyncSession, period: Period, district: str | None
                            ) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """The sweeper's notices and warnings in the period: counts by kind and the newest rows."""
    counts = {str(a): int(n) for a, n in await session.execute(
        _events(period, district, Event.action, func.count()).group_by(Event.action))}
    rows = (await session.execute(newest_events(period, district))).all()
    names = dict((await session.execute(select(Unit.code, Unit.name))).all())
    gone = await _set_aside(session, period)
    listed = []
    for at, action, data, reason, number, unit_code, assignment_id in rows:
        data = data or {}
        charged = str(data.get("unit") or unit_code or "")
        persons = data.get("persons") or []
        listed.append({"at": at, "action": ACTIONS.get(action, action), "number": number,
                       "unit": names.get(charged, charged), "rule": data.get("rule", ""),
                       "persons": "、".join(str(p) for p in persons) if isinstance(persons, list) else "",
                       "r10_3": bool(data.get("R10.3")), "reason": reason or "",
                       "set_aside": gone.get(("finding", data.get("finding_id")))
                       or (gone.get(("assignment", assignment_id)) if data.get("rule") == "R11.2b"
                           else None)})
    return counts, listed


async def _set_aside(session: AsyncSession, period: Period) -> dict[tuple[str, Any], str]:
    """Findings waived or withdrawn, by finding id and by the assignment an R11.2b charge is on:
    their notices and warnings stay in the history, marked, and count in no figure."""
    rows = (await session.execute(select(Finding.id, Finding.assignment_id, Finding.status).where(
        Finding.status.in_([FindingStatus.WAIVED, FindingStatus.WITHDRAWN]),
        Finding.created_at >= period.start, Finding.created_at < period.end))).all()
    label: dict[str, str] = {FindingStatus.WAIVED: "已免责", FindingStatus.WITHDRAWN: "已撤销"}
    out: dict[tuple[str, Any], str] = {}
    for finding_id, assignment_id, status in rows:
        out[("finding", finding_id)] = label[status]
        if assignment_id is not None:
            out[("assignment", assignment_id)] = label[status]
    return out


async def _gather(request: web.Request) -> dict[str, Any]:
    deps = request.app[DESK]
    zone = deps.calendar.zone
    today = deps.ctx.clock.now().astimezone(zone).date()
    query = dict(request.query)
    period = choose_period(query, today, zone)
    year_text = query.get("year", "")
    year = whole_number(year_text) or today.year
    year = year if 2000 <= year <= 2100 else today.year
    now = deps.ctx.clock.now()
    async with deps.sessionmaker() as session:
        known = await districts(session)
        district = allowed_district(request, query.get("district", ""), known)
        # The sweeper's unit_day rows plus what changed since its last run (issue 12).
        stats = await period_stats(session, period.start, period.end, zone=zone, district=district,
                                   now=now)
        ranked = await ranking(session, datetime.combine(date(year, 1, 1), time(0), tzinfo=zone),
                               datetime.combine(date(year + 1, 1, 1), time(0), tzinfo=zone), now=now,
                               zone=zone)
        bureaus = await bureau_dispatch(session, period, district)
        intake = await intake_counts(session, period) if district is None else {}
        # 咨询直办: answered on the call, counted apart from the items dispatched (city-wide).
        answered = await consultations(session, period.start, period.end) if district is None else 0
        counts, events = await efficiency_events(session, period, district)
        # R12.1 ranks all units together; a district view shows its units with their city rank.
        unit_districts = dict((await session.execute(select(Unit.code, Unit.district))).all())
    ranks = [r for r in ranked.rows
             if district is None or unit_districts.get(r.stats.unit_code) == district]
    return {"period": period, "periods": PERIODS, "district": district or "", "districts": known,
            "locked": district is not None and current(request).principal.role == Role.EFFICIENCY
            and bool(current(request).principal.unit_district),
            "stats": stats, "totals": totals(stats), "columns": COLUMNS, "bad": BAD, "ranked": ranks,
            "ranking": ranked, "formula": formula_text(ranked.weight), "year": year,
            "bureaus": bureaus, "intake": intake, "consultations": answered, "counts": counts,
            "events": events,
            "actions": ACTIONS, "event_limit": EVENT_LIMIT, "zone": zone,
            "statuses": CASE_STATUS, "query": request.query_string}


async def supervision_page(request: web.Request) -> web.Response:
    """GET /desk/supervision: the period's table, events and the year's ranking."""
    return render(request, "desk_supervision.html", await _gather(request))


def report_csv(context: dict[str, Any]) -> str:
    """The period report as CSV: one row per unit, then the totals, then the year's ranking."""
    buf = io.StringIO()
    out = csv.writer(buf)
    period: Period = context["period"]
    out.writerow(["12345 效能监督报告", period.label, context["district"] or "全市"])
    out.writerow(["单位代码", "单位", "区", *(label for _, label in COLUMNS), "平均评分", "回访平均评分"])
    for s in context["stats"]:
        out.writerow([s.unit_code, s.unit_name, s.district or "市级",
                      *(getattr(s, name) for name, _ in COLUMNS), _blank(s.rating_avg),
                      _blank(s.callback_avg)])
    t = context["totals"]
    out.writerow(["合计", "", "", *(t[name] for name, _ in COLUMNS), _blank(t["rating_avg"]),
                  _blank(t["callback_avg"])])
    if context["district"] == "":
        out.writerow(["咨询直办（坐席当场解答办结，不计入交办件）", context["consultations"]])
    out.writerow([])
    out.writerow([f"{context['year']} 年度排名（R12.1）"])
    out.writerow(["名次", "单位代码", "单位", "交办件数", "得分"])
    for r in context["ranked"]:
        out.writerow([r.rank, r.stats.unit_code, r.stats.unit_name, r.stats.dispatched, r.score])
    return buf.getvalue()


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


def ranking_csv(context: dict[str, Any]) -> str:
    """R12.1's inputs: every count and rate behind each score, to recompute it by hand."""
    buf = io.StringIO()
    out = csv.writer(buf)
    ranked: Ranking = context["ranking"]
    out.writerow([f"{context['year']} 年度排名输入（R12.1）", context["formula"]])
    out.writerow(["全市率（先验）", *(f"{k}={v:.4f}" for k, v in ranked.prior.items()),
                  f"C={ranked.weight:g}"])
    out.writerow(["名次", "单位代码", "单位", "交办件数", "按时阅办", "逾期阅办", "按时答复", "逾期答复",
                  "一次审核通过", "已审核", "评价数", "平均评分", "回访评价数", "回访平均评分",
                  "逾期办理", "过期未处理", "免责或撤销",
                  "效能办通报", *(f"{k}率" for k in ranked.prior), "本单位得分", "得分"])
    for r in context["ranked"]:
        s = r.stats
        out.writerow([r.rank, s.unit_code, s.unit_name, s.dispatched, s.read_on_time, s.read_late,
                      s.answered_on_time, s.answered_late, s.passed_first_time, s.reviewed, s.ratings,
                      "" if s.rating_avg is None else s.rating_avg, s.callbacks,
                      "" if s.callback_avg is None else s.callback_avg, s.overdue_handling,
                      s.expired_unhandled, s.waived, s.notices,
                      *(f"{r.rates[k]:.4f}" for k in ranked.prior), r.raw, r.score])
    return buf.getvalue()


def csv_response(text: str, name: str) -> web.Response:
    # The BOM lets spreadsheet programs read the Chinese text as UTF-8.
    return web.Response(body=("\ufeff" + text).encode(), headers={
        "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store"})


async def supervision_csv(request: web.Request) -> web.Response:
    """GET /desk/supervision/report.csv: the same figures, for the periodic report (R11.1)."""
    context = await _gather(request)
    period: Period = context["period"]
    name = f"supervision-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return csv_response(report_csv(context), name)


async def ranking_inputs_csv(request: web.Request) -> web.Response:
    """GET /desk/supervision/ranking.csv: the year's ranking with all its inputs (R12.1)."""
    context = await _gather(request)
    return csv_response(ranking_csv(context), f"ranking-{context['year']}.csv")


def add_supervision_pages(app: web.Application) -> None:
    app.router.add_get("/desk/supervision", supervision_page)
    app.router.add_get("/desk/supervision/report.csv", supervision_csv)
    app.router.add_get("/desk/supervision/ranking.csv", ranking_inputs_csv)

