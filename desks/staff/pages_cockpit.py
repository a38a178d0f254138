"""The supervision cockpit (驾驶舱, issue 15.1): the whole system on one printable page.

For the efficiency office and the city bureau city-wide (or one district), for
a district bureau or a district efficiency office its own district: open items
by stage and by deadline colour, the early-warning and overdue lists (with a
search), per-unit figures sorted by lateness, trends, intake by channel and by
hour. Each chart is a ``charts.Chart``: the SVG, the table beside it and its
CSV are three views of one object, so their numbers cannot differ; each number
links to ``/desk/cockpit/cases``, the cases behind it. The figures come from
``forwarder.cockpit`` (summary tables and open rows only).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from desks.staff import charts
from desks.staff.auth_pages import render
from desks.staff.deps import DESK, current
from desks.staff.pages_cases_view import ASSIGNMENT_STATE, CASE_STATUS, CHANNELS, DEADLINE_KIND
from desks.staff.pages_supervision import PERIODS, Period, choose_period, csv_response, districts
from forwarder import cockpit
from forwarder.cockpit_drill import UnknownFigure, cases_behind
from registrar.models import Role

ROLES = frozenset({Role.EFFICIENCY, Role.CITY_BUREAU, Role.ADMIN, Role.DISTRICT_BUREAU})
GRAINS = {"day": "按日", "week": "按周", "month": "按月"}
LATENESS = (("read_late", "逾期阅办"), ("answered_late", "逾期答复"), ("overdue_handling", "逾期办理"),
            ("expired_unhandled", "过期未处理"))
UNITS_IN_CHART = 15
FIGURES = {"dispatched": "交办", "read_on_time": "按时阅办", "read_late": "逾期阅办",
           "answered_on_time": "按时答复", "answered_late": "逾期答复", "overdue_handling": "逾期办理",
           "expired_unhandled": "过期未处理", "returns": "申请退回", "redone": "重办", "ratings": "群众评价",
           "callbacks": "回访", "charges": "认定问题", "waived": "免责或撤销", "notices": "效能办通报",
           "late": "逾期", "registered": "登记", "passed_first_time": "一次审核通过", "reviewed": "已审核"}


def figure_label(figure: str) -> str:
    """The Chinese name of a drill-down key, as the cockpit labelled the number."""
    kind, _, rest = figure.partition(":")
    if kind == "stage":
        return "在办：" + dict(cockpit.STAGES).get(rest, rest)
    if kind == "clock":
        clock, _, colour = rest.partition(":")
        return f"{DEADLINE_KIND.get(clock, clock)}期限：{dict(cockpit.COLOURS).get(colour, colour)}"
    if kind == "intake":
        return "登记渠道：" + CHANNELS.get(rest, rest)
    if kind == "hour":
        return f"登记时段：{rest}时"
    return FIGURES.get(figure, figure)


def scope(request: web.Request, known: list[str]) -> tuple[str | None, bool]:
    """(district, locked): district staff see their own district only; the city chooses."""
    me = current(request).principal
    if me.role not in ROLES:
        raise web.HTTPForbidden(text="仅效能办、信访局和系统管理员可用 (supervisors only)")
    if me.role in (Role.DISTRICT_BUREAU, Role.EFFICIENCY) and me.unit_district:
        return me.unit_district, True
    wanted = request.query.get("district", "")
    return (wanted if wanted in known else None), False


class Links:
    """Builds the drill-down link of a figure with the page's period and district."""

    def __init__(self, period: Period, district: str | None) -> None:
        self.base = {"from": period.first.isoformat(), "to": period.last.isoformat()}
        if district:
            self.base["district"] = district

    def __call__(self, figure: str, unit: str = "") -> str:
        query = {**self.base, "figure": figure, **({"unit": unit} if unit else {})}
        return "/desk/cockpit/cases?" + urlencode(query)

    def span(self, figure: str, first: date, last: date) -> str:
        """The link of a trend point: the figure over that day, week or month only."""
        query = {**self.base, "from": first.isoformat(), "to": last.isoformat(), "figure": figure}
        return "/desk/cockpit/cases?" + urlencode(query)


def build_charts(data: dict[str, Any], links: Links) -> dict[str, charts.Chart]:
    """Every chart of the page from the gathered figures (pure: the tests call it too)."""
    stages: dict[str, int] = data["stages"]
    colours: dict[str, dict[str, int]] = data["colours"]
    units: list[cockpit.UnitFigures] = data["units"]
    return {
        "stages": charts.Chart("stages", "在办件分布（按环节）", "环节", ("件数",), tuple(
            charts.Row(label, (stages[key],), (links(f"stage:{key}"),))
            for key, label in cockpit.STAGES), horizontal=True),
        "colours": charts.Chart("colours", "在办期限（按颜色）", "期限", tuple(
            label for _, label in cockpit.COLOURS), tuple(
            charts.Row(DEADLINE_KIND.get(kind, kind), tuple(counts[c] for c, _ in cockpit.COLOURS),
                       tuple(links(f"clock:{kind}:{c}") for c, _ in cockpit.COLOURS))
            for kind, counts in sorted(colours.items())), horizontal=True, stacked=True,
            colours=("red", "yellow", "green")),
        "lateness": charts.Chart("lateness", f"逾期情况最多的 {UNITS_IN_CHART} 个单位", "单位",
                                 tuple(label for _, label in LATENESS), tuple(
            charts.Row(u.unit_name, tuple(u[k] for k, _ in LATENESS),
                       tuple(links(k, u.unit_code) for k, _ in LATENESS))
            for u in units[:UNITS_IN_CHART] if u.lateness), horizontal=True, stacked=True),
        "trend": charts.Chart("trend", f"趋势（{GRAINS[data['grain']]}）", "时间",
                              ("登记", "交办", "逾期"), tuple(
            charts.Row(b.label, (b.values["registered"], b.values["dispatched"], b.values["late"]),
                       (links.span("registered", b.first, b.last), links.span("dispatched", b.first, b.last),
                        links.span("late", b.first, b.last)))
            for b in data["trend"])),
        "channels": charts.Chart("channels", "登记渠道", "渠道", ("件数",), tuple(
            charts.Row(CHANNELS.get(ch, ch), (n,), (links(f"intake:{ch}"),))
            for ch, n in sorted(data["channels"].items(), key=lambda kv: -kv[1])), horizontal=True),
        "hours": charts.Chart("hours", "登记时段（按小时）", "时段", ("件数",), tuple(
            charts.Row(f"{h:02d}时", (data["hours"].get(h, 0),), (links(f"hour:{h}"),))
            for h in range(24))),
    }


async def gather(session: AsyncSession, period: Period, *, district: str | None, now: datetime,
                 grain: str, q: str, unit: str, kind: str) -> dict[str, Any]:
    """Every figure the cockpit shows, for one period and scope."""
    return {
        "stages": await cockpit.stage_counts(session, district=district),
        "colours": await cockpit.colour_counts(session, now, district=district),
        "warnings": await cockpit.clock_list(session, now, "warning", district=district),
        "overdue": await cockpit.clock_list(session, now, "overdue", district=district, q=q,
                                            unit=unit, kind=kind),
        "units": await cockpit.unit_figures(session, period.first, period.last, district=district),
        "trend": await cockpit.trend(session, period.first, period.last, grain, district=district),
        "channels": await cockpit.intake_by(session, "channel", period.first, period.last,
                                            district=district),
        "hours": await cockpit.intake_by(session, "hour", period.first, period.last,
                                         district=district),
        "grain": grain,
    }


async def _context(request: web.Request) -> dict[str, Any]:
    deps = request.app[DESK]
    zone, now = deps.calendar.zone, deps.ctx.clock.now()
    query = dict(request.query)
    period = choose_period(query, now.astimezone(zone).date(), zone)
    grain = query.get("grain", "day") if query.get("grain") in GRAINS else "day"
    q, unit, kind = query.get("q", "")[:40], query.get("unit", "")[:64], query.get("kind", "")[:32]
    async with deps.sessionmaker() as session:
        known = await districts(session)
        district, locked = scope(request, known)
        data = await gather(session, period, district=district, now=now, grain=grain, q=q,
                            unit=unit, kind=kind)
    links = Links(period, district)
    return {**data, "charts": build_charts(data, links), "links": links, "period": period,
            "periods": PERIODS, "grains": GRAINS, "district": district or "", "districts": known,
            "locked": locked, "zone": zone, "now": now, "q": q, "unit": unit, "kind": kind,
            "kinds": DEADLINE_KIND, "states": ASSIGNMENT_STATE, "total": cockpit.totals(data["units"]),
            "query": request.query_string, "lateness": LATENESS, "svg": charts.svg}


async def cockpit_page(request: web.Request) -> web.Response:
    """GET /desk/cockpit: the cockpit for the period (default this month) and scope."""
    return render(request, "desk_cockpit.html", await _context(request))


def units_csv(context: dict[str, Any]) -> str:
    """The per-unit table, every figure and rate, worst lateness first."""
    rows = [["单位代码", "单位", "区", "交办", "按时阅办", "逾期阅办", "按时阅办率%", "按时答复", "逾期答复",
             "按时答复率%", "逾期办理", "过期未处理", "申请退回", "已审核", "重办", "重办率%", "评价数",
             "回访数", "满意度", "逾期合计"]]
    for u in [*context["units"], context["total"]]:
        rows.append([u.unit_code, u.unit_name, u.district or "", u["dispatched"], u["read_on_time"],
                     u["read_late"], u.read_rate, u["answered_on_time"], u["answered_late"],
                     u.answer_rate, u["overdue_handling"], u["expired_unhandled"], u["returns"],
                     u["reviewed"], u["redone"], u.redo_rate, u["ratings"], u["callbacks"],
                     u.satisfaction, u.lateness])
    return "\n".join(",".join("" if v is None else str(v).replace(",", "，") for v in row)
                     for row in rows) + "\n"


async def cockpit_csv(request: web.Request) -> web.Response:
    """GET /desk/cockpit/{chart}.csv: one chart's table (``units``: the per-unit table)."""
    context = await _context(request)
    name = request.match_info["chart"]
    period: Period = context["period"]
    stem = f"cockpit-{name}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    if name == "units":
        return csv_response(units_csv(context), stem)
    chart = context["charts"].get(name)
    if chart is None:
        raise web.HTTPNotFound(text="没有这个图表")
    return csv_response(charts.csv_text(chart), stem)


async def cases_page(request: web.Request) -> web.Response:
    """GET /desk/cockpit/cases?figure=…: the cases behind one number of the cockpit."""
    deps = request.app[DESK]
    zone, now = deps.calendar.zone, deps.ctx.clock.now()
    query = dict(request.query)
    try:
        first = date.fromisoformat(query.get("from", ""))
        last = date.fromisoformat(query.get("to", ""))
    except ValueError:
        first = last = now.astimezone(zone).date()
    figure, unit = query.get("figure", "dispatched")[:64], query.get("unit", "")[:64]
    try:
        page = max(1, min(int(query.get("page", "1")), 10_000))
    except ValueError:
        page = 1
    async with deps.sessionmaker() as session:
        district, _ = scope(request, await districts(session))
        try:
            rows, more = await cases_behind(session, figure, first=first, last=last, zone=zone,
                                            now=now, unit=unit, district=district, page=page)
        except UnknownFigure:
            raise web.HTTPBadRequest(text="未知的统计项") from None
    states = {**ASSIGNMENT_STATE, **CASE_STATUS, **CHANNELS}
    return render(request, "desk_cockpit_cases.html", {
        "rows": rows, "more": more, "page": page, "figure": figure_label(figure),
        "unit": rows[0].unit_name if unit and rows else unit,
        "first": first, "last": last, "district": district or "", "zone": zone, "states": states,
        "next_query": urlencode({**query, "page": page + 1}),
        "prev_query": urlencode({**query, "page": page - 1})})


def add_cockpit_pages(app: web.Application) -> None:
    app.router.add_get("/desk/cockpit", cockpit_page)
    app.router.add_get("/desk/cockpit/cases", cases_page)
    app.router.add_get("/desk/cockpit/{chart}.csv", cockpit_csv)
