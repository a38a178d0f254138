"""Actors of the demo organisation and shortcuts that drive a case along the main path."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import workflow as wf
from forwarder.workflow_base import Actor, Context
from registrar.models import Assignment, AssignmentRole, Deadline, Event, Notice

CITY = Actor("黄国平", "city_bureau", "city-bureau")
URBAN = Actor("经办人", "unit_handler", "city-urban")
URBAN_LEADER = Actor("分管领导", "unit_leader", "city-urban")
HOUSING = Actor("经办人", "unit_handler", "city-housing")
HOUSING_LEADER = Actor("分管领导", "unit_leader", "city-housing")
GULOU = Actor("区信访", "district_bureau", "gulou-bureau")
GULOU_URBAN = Actor("区经办", "unit_handler", "gulou-urban")
GULOU_URBAN_LEADER = Actor("区领导", "unit_leader", "gulou-urban")
GULOU_MARKET = Actor("区经办", "unit_handler", "gulou-market")


def leader_of(actor: Actor) -> Actor:
    return Actor("分管领导", "unit_leader", actor.unit_code)


async def lead_of(session: AsyncSession, number: str, unit_code: str) -> Assignment:
    from registrar.models import Case, Unit

    row = (await session.execute(
        select(Assignment).join(Case, Case.id == Assignment.case_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(Case.number == number, Unit.code == unit_code,
               Assignment.role != AssignmentRole.BUREAU)
        .order_by(Assignment.id.desc()))).scalars().first()
    assert row is not None, (number, unit_code)
    return row


async def answer_and_submit(session: AsyncSession, ctx: Context, assignment_id: int, handler: Actor,
                            text: str = "已派人维修，路灯已恢复照明。", *,
                            propose_private: bool = False, read: bool = True) -> None:
    if read:
        await wf.read(session, ctx, assignment_id, handler)
    await wf.draft(session, ctx, assignment_id, wf.Answer(text, propose_private=propose_private),
                   handler)
    await wf.approve(session, ctx, assignment_id, leader_of(handler))
    await wf.submit(session, ctx, assignment_id, handler)


async def dispatched(session: AsyncSession, ctx: Context, number: str, unit: str = "city-urban",
                     **kwargs: object) -> list[Assignment]:
    await wf.accept(session, ctx, number, CITY)
    return await wf.dispatch(session, ctx, number, unit, CITY, **kwargs)  # type: ignore[arg-type]


async def deadlines(session: AsyncSession, assignment_id: int) -> dict[str, Deadline]:
    rows = (await session.execute(select(Deadline).where(
        Deadline.assignment_id == assignment_id).order_by(Deadline.id))).scalars()
    return {d.kind: d for d in rows}


async def notices(session: AsyncSession, case_id: int, kind: str | None = None) -> list[Notice]:
    query = select(Notice).where(Notice.case_id == case_id).order_by(Notice.id)
    if kind:
        query = query.where(Notice.kind == kind)
    return list((await session.execute(query)).scalars())


async def actions(session: AsyncSession, case_id: int) -> list[str]:
    return list((await session.execute(select(Event.action).where(Event.case_id == case_id)
                                       .order_by(Event.id))).scalars())
