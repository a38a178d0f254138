"""The agent's side of the phone line on the console: their phone's SIP address and status.

``GET /desk/console/agent`` tells the console the agent's SIP address and
status; ``POST`` (JSON, the desk's CSRF header) sets the address, or the
status (available / away, or ``toggle``). The phone line reads the same rows
(``registrar.agents``) to choose whom to ring. While an agent's console is
connected, this process marks it seen every ``SEEN_EVERY_S``; the line offers
calls only to agents whose console was seen within its grace period, so a
closed browser stops the calls without anyone pressing "away".
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from contract.agents import STATUS_TEXT, AgentStatus, checked_sip_uri
from desks.console.deps import CONSOLE
from desks.console.routes import require_agent
from desks.console.seen import seen_while_connected
from desks.staff.deps import current
from registrar.agents import AgentPresence, Presence


def status_message(status: AgentStatus) -> dict[str, Any]:
    """What a console is sent when its agent's status changes."""
    return {"type": "agent_status", "status": status.value, "text": STATUS_TEXT[status]}


def _json(presence: Presence | None) -> dict[str, Any]:
    if presence is None:
        return {"sip_uri": "", "status": "", "text": "未设置话机（不接转入的来电）"}
    return {"sip_uri": presence.sip_uri, **status_message(presence.status)}


def _presence(request: web.Request) -> AgentPresence:
    presence = request.app[CONSOLE].presence
    if presence is None:
        raise web.HTTPNotFound(text="本系统未启用坐席状态")
    return presence


async def agent_state(request: web.Request) -> web.Response:
    """GET /desk/console/agent: the agent's SIP address and status."""
    require_agent(request)
    presence = _presence(request)
    return web.json_response(_json(await presence.get(current(request).principal.username)))


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def set_agent_state(request: web.Request) -> web.Response:
    """POST /desk/console/agent {sip_uri} or {status: available|away|toggle}."""
    require_agent(request)
    presence = _presence(request)
    username = current(request).principal.username
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return _error("请求格式不正确（应为 JSON）")
    if not isinstance(body, dict):
        return _error("请求格式不正确（应为 JSON 对象）")
    if "sip_uri" in body:
        sip_uri, problem = checked_sip_uri(body["sip_uri"])
        if problem:
            return _error(problem)
        return web.json_response(_json(await presence.set_address(username, sip_uri)))
    wanted = body.get("status")
    if wanted == "toggle":
        now = await presence.get(username)
        wanted = AgentStatus.AWAY.value if now is not None and now.status is not AgentStatus.AWAY \
            else AgentStatus.AVAILABLE.value
    if wanted not in (AgentStatus.AVAILABLE.value, AgentStatus.AWAY.value):
        return _error("状态只能是 available（空闲）或 away（离开）")
    changed = await presence.set_status(username, AgentStatus(wanted))
    if changed is None:
        return _error("请先填写并保存您话机的 SIP 地址", status=409)
    return web.json_response(_json(changed))


def add_presence_routes(app: web.Application) -> None:
    app.router.add_get("/desk/console/agent", agent_state)
    app.router.add_post("/desk/console/agent", set_agent_state)
    app.cleanup_ctx.append(seen_while_connected)

