"""The agent's emergency key (R3.8): hand the live call to 110 / 119 / 120 / 122, logged on the case.

``POST /desk/console/emergency`` ``{"call": id, "service": "120", "case": number?}``
with the desk's ``X-CSRF-Token``. ``call`` is the id the screen pop carried
(``hub.announce_call``); the request goes through ``ConsoleDeps.calls`` to the
process whose SIP worker holds that call, which dials the service's line and,
once it answers, bridges the caller to it and drops the agent's leg. The answer
comes back when the line answered or refused (or rang ``emergency_ring_s``), so
the agent sees a failure at once, still talking to the caller.

Every transfer that reached the call is logged on a case as an ``emergency_transfer``
event (who, which service, when, the outcome and SIP status).

Only the agent the call rang (the line remembers whom it popped) may press the key on
it; anyone else gets 403 and nothing is dialled or logged: the key ends the agent's
leg, and a colleague who guessed or saw the call's id must not cut that conversation.
Supervisors (``city_bureau``) have no console and no key either: whoever is on the
call decides (R3.8), and nobody else hears it. A call rung to the fixed list of PBX
extensions popped on every console, so there any agent may press it. Which case: the one
the agent registered during this call (the console sends its number), else one the
console registers for the call now (a phone case with the caller's number as the
line saw it, ``external_id`` ``sip-emergency:<call>``, so a second attempt on the
same call — 120 busy, then 110 — lands on the same case). The transfer must never
wait for paperwork, and nothing about it may be lost if the agent never gets to the
form: the caller may be gone to 120 a second later.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from sqlalchemy import select

from contract.channel import CallAnswer
from contract.emergency import EMERGENCY_SERVICES
from contract.envelope import Channel, Envelope, TryLater
from desks.access.permissions import visible
from desks.access.principal import Principal
from desks.console.deps import CONSOLE
from desks.console.routes import require_agent
from desks.staff.deps import current
from registrar.models import Case, Event

log = logging.getLogger(__name__)

SERVICES = EMERGENCY_SERVICES
"""The services the key offers (R3.8); each site says in ``[sip] emergency`` where they are dialled."""
ACTION = "emergency_transfer"
WAIT_S = 150.0
"""Longest wait for the line's report (its own limit is ``emergency_ring_s`` ≤ 120 plus margin)."""
EXTERNAL_ID_PREFIX = "sip-emergency:"
NOT_YOURS = "not_your_call"
"""The line's answer when the key was pressed on a console other than the one the call rang."""

REASONS: dict[str, str] = {
    "refused": "对方线路拒接或忙", "no_answer": "对方线路无人接听", "not_configured": "本线路未配置该号码",
    "not_with_agent": "该来电当前未与坐席通话", "call_ended": "来电已挂断", "caller_gone": "来电人已挂断",
    "in_progress": "该来电正在转接中", "not_dialled": "无法呼出（线路已满或地址无效）",
    "line_down": "电话线路进程未运行", "no_report": "电话线路未报告结果",
}


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


def _valid_call(call: str) -> bool:
    return 0 < len(call) <= 64 and call.isascii() and call.isalnum()


def outcome_text(service: str, answer: CallAnswer) -> str:
    """What the agent reads, and the event's reason: 已转接 120（急救） / 转接失败 + why."""
    name = f"{service}（{SERVICES[service]}）"
    if answer.get("ok"):
        return f"已转接{name}，坐席通话已结束"
    code = int(answer.get("code") or 0)
    why = REASONS.get(str(answer.get("reason", "")), "未知原因")
    return f"转接{name}失败：{why}" + (f"（SIP {code}）" if code else "") + "；来电仍与您通话"


async def _case_for(request: web.Request, me: Principal, number: str, call: str,
                    service: str, answer: CallAnswer) -> tuple[int, str] | None:
    """The case to log on: the agent's (if visible to them), else the call's own, registered now."""
    deps = request.app[CONSOLE]
    if number:
        async with deps.sessionmaker() as session:
            found = (await session.execute(select(Case.id, Case.number).where(
                Case.number == number, visible(me)))).first()
        if found is not None:
            return int(found[0]), str(found[1])
    caller = answer.get("caller") if isinstance(answer.get("caller"), str) else None
    name = answer.get("display_name") if isinstance(answer.get("display_name"), str) else None
    envelope = Envelope(
        channel=Channel.PHONE, external_id=EXTERNAL_ID_PREFIX + call,
        received_at=deps.clock.now(), sender=caller or None, reply_address=caller or None,
        display_name=(name or "")[:100] or None, public_allowed=False,
        text=(f"【紧急转接】来电{caller or '（未显示号码）'}由坐席{me.display_name}转接"
              f"{service}（{SERVICES[service]}）。通话内容待坐席补充。"),
        notes=(f"agent={me.username}", f"sip.call={call}", "emergency_transfer"))
    try:
        receipt = await deps.sink(envelope)
    except TryLater:
        return None
    async with deps.sessionmaker() as session:
        case_id = (await session.execute(select(Case.id).where(
            Case.number == receipt.case_number))).scalar_one()
    return int(case_id), receipt.case_number


async def _log(request: web.Request, me: Principal, case: tuple[int, str], call: str,
               service: str, answer: CallAnswer) -> None:
    deps = request.app[CONSOLE]
    async with deps.sessionmaker.begin() as session:
        session.add(Event(
            case_id=case[0], at=deps.clock.now(), action=ACTION,
            actor=f"{me.display_name}@{me.unit_code or me.username}",
            from_state=None, to_state=None, reason=outcome_text(service, answer),
            data={"service": service, "target": str(answer.get("uri", ""))[:200],
                  "outcome": "connected" if answer.get("ok") else "failed",
                  "code": int(answer.get("code") or 0), "why": str(answer.get("reason", ""))[:40],
                  "call": call, "agent": me.username}))


async def transfer(request: web.Request) -> web.Response:
    """POST /desk/console/emergency: transfer the live call, log it, say how it went."""
    require_agent(request)
    me = current(request).principal
    try:
        body: Any = await request.json()
    except ValueError:
        return _bad("请求格式错误（应为 JSON）")
    if not isinstance(body, dict):
        return _bad("请求格式错误（应为 JSON 对象）")
    call, service = str(body.get("call", "")), str(body.get("service", ""))
    number = str(body.get("case", "") or "")[:40]
    if service not in SERVICES:
        return _bad("请选择 110、119、120 或 122")
    if not _valid_call(call):
        return _bad("当前没有电话线路转来的来电（需来电弹屏后才能转接）")
    calls = request.app[CONSOLE].calls
    if calls is None:
        return _bad("本系统未接入电话线路，请告知来电人直接拨打" + service, 503)
    answer = await calls.ask({"op": "emergency", "call": call, "service": service,
                              "agent": me.username}, timeout_s=WAIT_S)
    if answer is None:
        return _bad(f"该来电已结束，或不在本系统的电话线路上；请告知来电人直接拨打{service}", 404)
    if answer.get("reason") == NOT_YOURS:  # nothing was dialled: nothing to log
        return _bad("该来电未转接给您，只有正在接听该来电的坐席可以紧急转接", 403)
    case = await _case_for(request, me, number, call, service, answer)
    if case is None:
        log.error("emergency transfer of call %s to %s (%s) not logged: the store is down",
                  call, service, "ok" if answer.get("ok") else "failed")
    else:
        await _log(request, me, case, call, service, answer)
    return web.json_response({
        "ok": answer.get("ok") is True, "service": service, "code": int(answer.get("code") or 0),
        "reason": str(answer.get("reason", "")), "message": outcome_text(service, answer),
        "case": case[1] if case else "",
        "logged": case is not None})


def add_emergency_routes(app: web.Application) -> None:
    app.router.add_post("/desk/console/emergency", transfer)
