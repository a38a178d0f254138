"""The POST endpoints: one workflow action each, in one transaction.

Each handler is a small function from (session, context, target, caller, body)
to a JSON result; ``case_post`` and ``assignment_post`` wrap it with the
shared order of checks: authenticate (401), role (403), visibility (404), then
the workflow itself (its unit checks 403, bad input 400, wrong state 409).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contract.normalise import whole_number
from desks.access.errors import ApiError
from desks.access.permissions import visible
from desks.access.principal import Principal
from desks.api.http import (
    Handler,
    Json,
    flag,
    optional_text,
    target_post,
    text,
    texts,
)
from desks.api.serialise import assignment_json, case_full, case_summary
from forwarder import workflow as wf
from forwarder import workflow_special as special
from forwarder.callback_followups import follow_up
from forwarder.workflow_base import Context
from registrar.models import Assignment, Case, Role, Unit

CaseCall = Callable[[AsyncSession, Context, Case, Principal, Json], Awaitable[Json]]
AssignmentCall = Callable[[AsyncSession, Context, Assignment, Principal, Json], Awaitable[Json]]


async def visible_case(session: AsyncSession, principal: Principal, number: str) -> Case:
    """The case if the caller may see it; 404 alike for "absent" and "not yours"."""
    case = (await session.execute(select(Case).where(Case.number == number, visible(principal)))
            ).scalar_one_or_none()
    if case is None:
        raise ApiError.not_found(f"没有案件 {number}，或您无权查看")
    return case


async def visible_assignment(session: AsyncSession, principal: Principal, raw_id: str) -> Assignment:
    assignment_id = whole_number(raw_id)
    if assignment_id is None:
        raise ApiError.not_found("没有这项交办，或您无权查看")
    row = (await session.execute(select(Assignment).join(Case, Case.id == Assignment.case_id)
                                 .where(Assignment.id == assignment_id, visible(principal)))
           ).scalar_one_or_none()
    if row is None:
        raise ApiError.not_found("没有这项交办，或您无权查看")
    return row


async def assignments_json(session: AsyncSession, rows: list[Assignment]) -> list[Json]:
    out = []
    for row in rows:
        unit = await session.get(Unit, row.unit_id)
        assert unit is not None
        out.append(assignment_json(row, unit))
    return out


def case_post(action: str, call: CaseCall) -> Handler:
    return target_post(action, "number", visible_case, call)


def assignment_post(action: str, call: AssignmentCall) -> Handler:
    return target_post(action, "id", visible_assignment, call)


# --- on cases ------------------------------------------------------------------------


async def not_accept(s: AsyncSession, ctx: Context, case: Case, p: Principal, body: Json) -> Json:
    await wf.not_accept(s, ctx, case.number, text(body, "reason"), p.actor,
                        note=text(body, "note", required=False))
    return {"case": case_summary(case)}


async def accept(s: AsyncSession, ctx: Context, case: Case, p: Principal, body: Json) -> Json:
    await wf.accept(s, ctx, case.number, p.actor, internal_reason=optional_text(body, "internal_reason"),
                    reserved=flag(body, "reserved"))
    return {"case": case_summary(case)}


async def accept_dispatch(s: AsyncSession, ctx: Context, case: Case, p: Principal, body: Json) -> Json:
    """Screening and dispatch in one step (R4.3, R7.2): the accept form's second button."""
    made = await wf.accept_and_dispatch(
        s, ctx, case.number, text(body, "unit"), p.actor,
        internal_reason=optional_text(body, "internal_reason"), reserved=flag(body, "reserved"),
        co_units=tuple(texts(body, "co_units")))
    return {"case": case_summary(case), "assignments": await assignments_json(s, made)}


async def dispatch(s: AsyncSession, ctx: Context, case: Case, p: Principal, body: Json) -> Json:
    """The city bureau dispatches (R7.2, R7.3); a district bureau to its units (R7.3)."""
    unit, co = text(body, "unit"), tuple(texts(body, "co_units"))
    go = wf.district_dispatch if p.role == Role.DISTRICT_BUREAU else wf.dispatch
    made = await go(s, ctx, case.number, unit, p.actor, co_units=co)
    return {"case": case_summary(case), "assignments": await assignments_json(s, made)}


async def split(s: AsyncSession, ctx: Context, case: Case, p: Principal, body: Json) -> Json:
    parts = await special.split(s, ctx, case.number, texts(body, "parts"), p.actor)
    return {"case": case_summary(case), "parts": [case_summary(c) for c in parts]}


async def escalate(s: AsyncSession, ctx: Context, case: Case, p: Principal, body: Json) -> Json:
    made = await special.escalate(s, ctx, case.number, reason=text(body, "reason"), actor=p.actor)
    return {"case": case_summary(case), "assignment": (await assignments_json(s, [made]))[0]}


async def stop(s: AsyncSession, ctx: Context, case: Case, p: Principal, body: Json) -> Json:
    await special.stop_dispatch(s, ctx, case.number, p.actor)
    return {"case": case_summary(case)}


async def publication(s: AsyncSession, ctx: Context, case: Case, p: Principal, body: Json) -> Json:
    # The public texts as the bureau checked and edited them on the case page (R9.3).
    summary = text(body, "summary") if "summary" in body else None
    answer = text(body, "answer") if "answer" in body else None
    await wf.decide_publication(s, ctx, case.number, publish=flag(body, "publish", default=None),
                                actor=p.actor, summary=summary, answer=answer)
    return {"case": case_full(case)}


async def callback_follow_up(s: AsyncSession, ctx: Context, case: Case, p: Principal,
                             body: Json) -> Json:
    """R12 回访: close a dissatisfied call-back (``forwarder.callbacks.FOLLOW_UPS``)."""
    await follow_up(s, ctx, case.number, outcome=text(body, "outcome"), actor=p.actor,
                    note=text(body, "note", required=False))
    return {"case": case_summary(case)}


# --- on assignments --------------------------------------------------------------------


async def _one(s: AsyncSession, row: Assignment) -> Json:
    return {"assignment": (await assignments_json(s, [row]))[0]}


async def read(s: AsyncSession, ctx: Context, a: Assignment, p: Principal, body: Json) -> Json:
    return await _one(s, await wf.read(s, ctx, a.id, p.actor))


async def draft(s: AsyncSession, ctx: Context, a: Assignment, p: Principal, body: Json) -> Json:
    answer = wf.Answer(text(body, "text"), complex=flag(body, "complex"),
                       done=text(body, "done", required=False),
                       problems=text(body, "problems", required=False),
                       measures=text(body, "measures", required=False),
                       propose_private=flag(body, "propose_private"))
    return await _one(s, await wf.draft(s, ctx, a.id, answer, p.actor))


async def approve(s: AsyncSession, ctx: Context, a: Assignment, p: Principal, body: Json) -> Json:
    return await _one(s, await wf.approve(s, ctx, a.id, p.actor))


async def approve_submit(s: AsyncSession, ctx: Context, a: Assignment, p: Principal, body: Json) -> Json:
    """R8.2c in one step, where the unit's setting allows: approve and send on."""
    await wf.approve_and_submit(s, ctx, a.id, p.actor)
    return await _one(s, a)


async def submit(s: AsyncSession, ctx: Context, a: Assignment, p: Principal, body: Json) -> Json:
    return await _one(s, await wf.submit(s, ctx, a.id, p.actor))


async def request_return(s: AsyncSession, ctx: Context, a: Assignment, p: Principal,
                         body: Json) -> Json:
    row = await special.request_return(s, ctx, a.id, reason=text(body, "reason"),
                                       proposed_unit=text(body, "proposed_unit"), actor=p.actor)
    return await _one(s, row)


async def return_decision(s: AsyncSession, ctx: Context, a: Assignment, p: Principal,
                          body: Json) -> Json:
    made = await special.decide_return(s, ctx, a.id, accept=flag(body, "accept", default=None),
                                       actor=p.actor, redispatch_to=optional_text(body, "redispatch_to"),
                                       comment=text(body, "comment", required=False))
    return {"assignments": await assignments_json(s, made)}


async def review(s: AsyncSession, ctx: Context, a: Assignment, p: Principal, body: Json) -> Json:
    row = await wf.review(s, ctx, a.id, passed=flag(body, "passed", default=None), actor=p.actor,
                          comment=text(body, "comment", required=False))
    return await _one(s, row)


async def coordinate(s: AsyncSession, ctx: Context, a: Assignment, p: Principal, body: Json) -> Json:
    row = await special.coordinate(s, ctx, a.id, opinion=text(body, "opinion"), actor=p.actor)
    return await _one(s, row)


def add_action_routes(app: web.Application) -> None:
    for path, action, case_call in (
            ("not-accept", "not_accept", not_accept), ("accept", "accept", accept),
            ("accept-dispatch", "accept_dispatch", accept_dispatch),
            ("dispatch", "dispatch", dispatch), ("split", "split", split),
            ("escalate", "escalate", escalate), ("stop", "stop", stop),
            ("publication", "publication", publication),
            ("callback-follow-up", "callback_follow_up", callback_follow_up)):
        app.router.add_post(f"/cases/{{number}}/{path}", case_post(action, case_call))
    for path, action, call in (
            ("read", "read", read), ("draft", "draft", draft), ("approve", "approve", approve),
            ("approve-submit", "approve_submit", approve_submit),
            ("submit", "submit", submit), ("return", "return", request_return),
            ("return-decision", "return_decision", return_decision), ("review", "review", review),
            ("coordinate", "coordinate", coordinate)):
        app.router.add_post(f"/assignments/{{id}}/{path}", assignment_post(action, call))
