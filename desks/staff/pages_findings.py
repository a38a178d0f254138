"""The findings desk: the efficiency office judges charges and contests; a unit contests its own.

R11.2b charges only failures caused by people, which someone must judge; a unit
may contest a notice or warning within its window (issue 15.3). This page is
where both sides do it, with plain HTML forms (each carrying the session's CSRF
field, checked by ``signed_in``). Every form calls the same function as the
JSON API and ``hotline findings`` (``desks.api.findings``), after the same role
check, so the desk is no second implementation of the rules: it only chooses
which forms to show.

Who sees what (``desks.api.findings.finding_scope``): a city office, the city
bureau and admins all findings; a district office its district's; a unit's
handler or leader its own unit's. Only an office decides; only the unit contests.
"""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import UnitKind
from desks.access.errors import ApiError
from desks.access.permissions import require_role
from desks.access.principal import Principal
from desks.api import findings as api
from desks.staff.auth_pages import render, see_other
from desks.staff.deps import DESK, current
from forwarder import findings
from forwarder.workflow_base import WorkflowError
from registrar.models import Role, Unit
from registrar.models_supervision import Decision, FindingKind, FindingStatus

BASE = "/desk/supervision/findings"
STATUS = {FindingStatus.CHARGED: "待认定", FindingStatus.CONFIRMED: "已确认",
          FindingStatus.WAIVED: "已免责", FindingStatus.CONTESTED: "申诉中",
          FindingStatus.WITHDRAWN: "已撤销"}
KIND = {FindingKind.R11_2B: "逾期办理或过期未处理（R11.2b）", FindingKind.NOTICE: "效能办通报（R11.1）",
        FindingKind.CALLBACK: "回访不满意，市信访局提交（R12）"}
DECISION = {Decision.CONFIRM: "确认：属人为原因", Decision.WAIVE: "免责：非人为原因",
            Decision.LEAD_UNJUSTIFIED: "牵头单位退回无正当理由（由牵头单位承担）",
            Decision.LEAD_JUSTIFIED: "牵头单位退回理由正当（改由逾期单位承担）",
            Decision.ISSUE: "发出通报", Decision.CONTEST: "单位申诉",
            Decision.UPHOLD: "维持（驳回申诉）", Decision.WITHDRAW: "撤销"}
#: Flash messages after a successful form, by the ``done`` query value.
DONE = {"decided": "已记录认定决定。", "contested": "申诉已提交，等待效能办决定。",
        "notice": "通报已发出。"}
#: How a refusal is told on the desk, by HTTP status; the rule's own words follow.
REFUSED = {400: "填写有误", 403: "无权进行此项操作", 404: "未找到该认定记录或单位",
           409: "当前状态不允许此项操作"}
NOTICE_KINDS = (UnitKind.CITY_UNIT, UnitKind.DISTRICT_UNIT, UnitKind.DISTRICT_BUREAU)


def _refusal(exc: ApiError | WorkflowError) -> tuple[int, str]:
    error = exc if isinstance(exc, ApiError) else ApiError.from_workflow(exc)
    return error.status, f"{REFUSED.get(error.status, '操作未完成')}：{error.message}"


async def _units(session: AsyncSession, me: Principal) -> list[Unit]:
    """The units an office may name in a notice or a filter (a district office: its own)."""
    query = select(Unit).where(Unit.active.is_(True), Unit.kind.in_(NOTICE_KINDS))
    if me.role == Role.EFFICIENCY and me.unit_district:
        query = query.where(Unit.district == me.unit_district)
    return list((await session.execute(query.order_by(Unit.id))).scalars())


async def _page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    deps = request.app[DESK]
    me = current(request).principal
    try:
        require_role(me, "findings")
    except ApiError:
        raise web.HTTPForbidden(text="仅效能办、承办单位、市信访局和系统管理员可用") from None
    query = {k: request.query.get(k, "").strip() for k in ("status", "unit", "month")}
    now = deps.ctx.clock.now()
    async with deps.sessionmaker() as session:
        try:
            scope = api.scope_from(me, query, now.tzinfo)
        except ApiError as exc:
            raise web.HTTPBadRequest(text=f"筛选条件有误：{exc.message}") from None
        views = await api.finding_views(session, deps.ctx, scope)
        units = [] if me.role in findings.UNIT_ROLES else await _units(session, me)
    office = me.role == Role.EFFICIENCY
    return render(request, "desk_findings.html", {
        "views": views, "now": now, "zone": now.tzinfo, "query": query, "units": units,
        "office": office, "unit_side": me.role in findings.UNIT_ROLES,
        "statuses": STATUS, "kinds": KIND, "decisions": DECISION,
        "judgements": findings.JUDGEMENTS, "answers": findings.ANSWERS,
        "contest_days": deps.ctx.contest_days, "error": error,
        "done": DONE.get(request.query.get("done", ""), "")}, status=status)


async def findings_page(request: web.Request) -> web.Response:
    """GET /desk/supervision/findings: the list with filters, each finding's history, the forms."""
    return await _page(request)


async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _act(request: web.Request, action: str, call: api.FindingCall | None) -> web.Response:
    """One form: the role check, the visible finding, the shared action; back to the list."""
    deps = request.app[DESK]
    me = current(request).principal
    body = await _form(request)
    try:
        async with deps.sessionmaker.begin() as session:
            require_role(me, action)
            if call is None:
                result = await api.hand_notice(session, deps.ctx, me, body)
            else:
                finding = await api.visible_finding(session, me, request.match_info["id"])
                result = await call(session, deps.ctx, finding, me, body)
    except (ApiError, WorkflowError) as exc:
        status, message = _refusal(exc)
        return await _page(request, error=message, status=status)
    done = {"decide_finding": "decided", "contest_finding": "contested"}.get(action, "notice")
    return see_other(f"{BASE}?{urlencode({'done': done})}#f{result['finding']['id']}")


async def decide_form(request: web.Request) -> web.Response:
    """POST …/{id}/decide: confirm, waive, judge a lead refusal, or answer a contest."""
    return await _act(request, "decide_finding", api.decide)


async def contest_form(request: web.Request) -> web.Response:
    """POST …/{id}/contest: the unit's contest, with its reason, within the window."""
    return await _act(request, "contest_finding", api.contest)


async def notice_form(request: web.Request) -> web.Response:
    """POST …/notice: a notice (通报) by hand to a unit the office supervises."""
    return await _act(request, "hand_notice", None)


def add_findings_pages(app: web.Application) -> None:
    app.router.add_get(BASE, findings_page)
    app.router.add_post(f"{BASE}/notice", notice_form)
    app.router.add_post(f"{BASE}/{{id}}/decide", decide_form)
    app.router.add_post(f"{BASE}/{{id}}/contest", contest_form)

