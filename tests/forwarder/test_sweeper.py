"""The sweeper: missed clocks and their consequences (R5.2, R7–R8), warnings (R11.1),
supervision (R10.3, R11.2a, R11.2b), idempotency, parallel workers, recounting.

The clock is moved across the real 2026 calendar; each sweep runs the real
``Sweeper`` in its own transaction (a savepoint of the test's connection, or real
commits where two workers race), and the test reads back what it recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contract.clock import FixedClock
from contract.envelope import Channel, Envelope
from forwarder import workflow as wf
from forwarder import workflow_special as special
from forwarder.calendar import WorkingCalendar
from forwarder.due import CalendarDuePolicy
from forwarder.sweeper import Sweeper, SweepReport, provisional_recount, sweeper_worker
from forwarder.workflow_base import Context, WorkflowError, move_assignment
from registrar.attachments import AttachmentStore
from registrar.db import make_sessionmaker
from registrar.models import (
    Assignment,
    AssignmentRole,
    AssignmentState,
    Deadline,
    Event,
    RosterEntry,
    Unit,
)
from registrar.registration import register
from tests.conftest import TZ
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import (
    CITY,
    GULOU,
    GULOU_URBAN,
    HOUSING,
    URBAN,
    answer_and_submit,
    dispatched,
)

FIXTURES = Path(__file__).parent / "fixtures"
URBAN_HANDLERS = {"郑建华", "梁秀英"}


def at(text: str) -> datetime:
    """A Fuzhou wall-clock moment, e.g. '2026-10-10 00:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def moved(ctx: Context, when: datetime) -> None:
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.moment = when


async def sweep(session: AsyncSession, ctx: Context, when: datetime) -> SweepReport:
    """Run one sweep at ``when`` in its own transaction on the test's connection."""
    moved(ctx, when)
    await session.flush()
    sessions = async_sessionmaker(bind=session.bind, join_transaction_mode="create_savepoint",
                                  expire_on_commit=False)
    return await Sweeper(sessions, ctx, batch=2).run_once()


async def events(session: AsyncSession, case_id: int, action: str,
                 **data: Any) -> list[Event]:
    rows = (await session.execute(select(Event).where(Event.case_id == case_id,
                                                      Event.action == action)
                                  .order_by(Event.id))).scalars()
    return [e for e in rows if all(e.data.get(k) == v for k, v in data.items())]


async def clocks(session: AsyncSession, assignment_id: int) -> dict[str, Deadline]:
    """The newest clock of each kind, read afresh (the sweeper wrote in another session)."""
    rows = (await session.execute(select(Deadline).where(Deadline.assignment_id == assignment_id)
                                  .order_by(Deadline.id)
                                  .execution_options(populate_existing=True))).scalars()
    return {d.kind: d for d in rows}


async def queue_of_case(session: AsyncSession, case_id: int) -> Assignment:
    return (await session.execute(select(Assignment).where(
        Assignment.case_id == case_id, Assignment.role == AssignmentRole.BUREAU)
        .order_by(Assignment.id.desc()).execution_options(populate_existing=True))).scalars().first() \
        or pytest.fail("no queue assignment")


# --- R7.2 / R7.3: dispatch ---------------------------------------------------------------


async def test_R7_2_city_bureau_late_dispatch_is_recorded_across_the_make_up_saturday(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    # Friday 13 Feb 2026; Saturday 14 Feb is a make-up working day, so late from Sunday 00:00.
    case = await make.case(at=at("2026-02-13 10:00"))
    queue = await queue_of_case(session, case.id)
    assert (await sweep(session, ctx, at("2026-02-14 23:59"))).late_dispatch == 0
    report = await sweep(session, ctx, at("2026-02-15 00:00"))
    [late] = await events(session, case.id, "late_dispatch")
    assert report.late_dispatch == 1
    assert (late.assignment_id, late.actor, late.data["rule"]) == (queue.id, "sweeper", "R7.2")
    assert (await clocks(session, queue.id))["dispatch"].missed
    [lead] = await dispatched(session, ctx, case.number)  # lateness never blocks the work
    assert lead.state == AssignmentState.DISPATCHED


async def test_R7_3_district_bureau_late_dispatch_is_its_own(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [copy] = await dispatched(session, ctx, case.number, "gulou-bureau")
    assert (await sweep(session, ctx, at("2026-11-25 23:59"))).late_dispatch == 0
    report = await sweep(session, ctx, at("2026-11-26 00:00"))
    [late] = await events(session, case.id, "late_dispatch")
    assert report.late_dispatch == 1
    assert (late.assignment_id, late.data["rule"], late.data["unit"]) == (copy.id, "R7.3", "gulou-bureau")


# --- R8.1 and R11.2a: reading ------------------------------------------------------------


async def test_R8_1_late_read_only_after_national_day_and_two_working_days(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    # Wednesday 30 Sep 2026: 1–7 Oct are off, so the 2 working days are 8 and 9 Oct.
    case = await make.case(at=at("2026-09-30 10:00"))
    [lead] = await dispatched(session, ctx, case.number)
    assert (await sweep(session, ctx, at("2026-10-09 23:59"))).late_read == 0
    report = await sweep(session, ctx, at("2026-10-10 00:00"))
    await session.refresh(lead)
    assert report.late_read == 1 and lead.late_read
    [late] = await events(session, case.id, "late_read")
    assert (late.assignment_id, late.data["rule"]) == (lead.id, "R8.1")
    [notice] = await events(session, case.id, "unit_notified")
    assert (notice.data["rule"], notice.data["unit"]) == ("R11.2a", "city-urban")
    assert not await events(session, case.id, "efficiency_warning")
    await wf.read(session, ctx, lead.id, URBAN)  # reading late is still reading
    assert (await clocks(session, lead.id))["read"].met_at == at("2026-10-10 00:00")


async def _late_reads(session: AsyncSession, ctx: Context, make: Maker, *days: str) -> list[int]:
    ids = []
    for day in days:
        case = await make.case(at=at(f"{day} 10:00"))
        await dispatched(session, ctx, case.number)
        ids.append(case.id)
    return ids


async def test_R11_2a_three_late_reads_in_a_month_bring_an_efficiency_warning(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    first, second, third = await _late_reads(session, ctx, make, "2026-11-02", "2026-11-03",
                                             "2026-11-04")
    report = await sweep(session, ctx, at("2026-11-06 00:00"))
    assert (report.late_read, report.efficiency_warnings) == (2, 0)
    report = await sweep(session, ctx, at("2026-11-07 00:00"))
    assert (report.late_read, report.efficiency_warnings) == (1, 1)
    assert not await events(session, first, "efficiency_warning")
    assert not await events(session, second, "efficiency_warning")
    [warning] = await events(session, third, "efficiency_warning")
    assert (warning.data["rule"], warning.data["unit"], warning.data["month"]) == (
        "R11.2a", "city-urban", "2026-11")
    assert set(warning.data["persons"]) == URBAN_HANDLERS and warning.data["duty"] == "handler"
    assert len(warning.data["cases"]) == 3


async def test_R11_2a_late_reads_in_different_months_do_not_add_up(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    # 28 Oct: read by Fri 30 Oct (October); 2 and 3 Nov: deadlines in November.
    cases = await _late_reads(session, ctx, make, "2026-10-28", "2026-11-02", "2026-11-03")
    report = await sweep(session, ctx, at("2026-11-06 00:00"))
    assert (report.late_read, report.efficiency_warnings) == (3, 0)
    for case_id in cases:
        assert not await events(session, case_id, "efficiency_warning")


# --- R8.2a and R11.2b: answering ---------------------------------------------------------


async def test_R8_2a_unread_item_expires_unhandled_and_read_one_is_overdue(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    unread, read = await make.case(), await make.case("五四路井盖缺失")
    [idle] = await dispatched(session, ctx, unread.number)
    [busy] = await dispatched(session, ctx, read.number)
    await wf.read(session, ctx, busy.id, URBAN)
    assert (await clocks(session, busy.id))["answer"].due_at == at("2026-12-09 00:00")
    report = await sweep(session, ctx, at("2026-12-08 23:59"))
    assert (report.overdue_handling, report.expired_unhandled) == (0, 0)
    report = await sweep(session, ctx, at("2026-12-09 00:00"))
    assert (report.overdue_handling, report.expired_unhandled) == (1, 1)
    await session.refresh(idle)
    await session.refresh(busy)
    assert (idle.expired_unhandled, idle.overdue_handling) == (True, False)
    assert (busy.expired_unhandled, busy.overdue_handling) == (False, True)
    [expired] = await events(session, unread.id, "expired_unhandled")
    [overdue] = await events(session, read.id, "overdue_handling")
    assert expired.data["rule"] == overdue.data["rule"] == "R8.2a"


async def test_R11_2b_overdue_item_notifies_the_unit_and_warns_its_handlers(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await wf.read(session, ctx, lead.id, URBAN)
    report = await sweep(session, ctx, at("2026-12-09 00:00"))
    assert (report.unit_notices, report.efficiency_warnings) == (1, 1)
    [notice] = await events(session, case.id, "unit_notified", rule="R11.2b")
    [warning] = await events(session, case.id, "efficiency_warning", rule="R11.2b")
    assert notice.data["unit"] == warning.data["unit"] == "city-urban"
    assert set(warning.data["persons"]) == URBAN_HANDLERS and not warning.data["R10.3"]


async def test_R8_2a_co_handling_unit_is_late_on_its_own_clock(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    lead, co = await dispatched(session, ctx, case.number, co_units=("city-housing",))
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await wf.read(session, ctx, co.id, HOUSING)
    report = await sweep(session, ctx, at("2026-12-09 00:00"))
    assert report.overdue_handling == 1
    await session.refresh(lead)
    await session.refresh(co)
    assert co.overdue_handling and not lead.overdue_handling
    [warning] = await events(session, case.id, "efficiency_warning", rule="R11.2b")
    assert (warning.assignment_id, warning.data["unit"]) == (co.id, "city-housing")
    assert set(warning.data["persons"]) == {"宋丽娟", "唐海峰"}


async def test_R11_2b_joint_item_lead_that_refused_is_the_one_charged(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    lead, co = await dispatched(session, ctx, case.number, co_units=("city-housing",))
    await special.request_return(session, ctx, lead.id, reason="不属本单位职责",
                                 proposed_unit="city-transport", actor=URBAN)
    await special.decide_return(session, ctx, lead.id, accept=False, actor=CITY, comment="属城管职责")
    assert lead.return_refused
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await sweep(session, ctx, at("2026-12-09 00:00"))
    await session.refresh(co)
    assert co.expired_unhandled  # the fact stays on the co-handler's assignment
    [notice] = await events(session, case.id, "unit_notified", rule="R11.2b")
    [warning] = await events(session, case.id, "efficiency_warning", rule="R11.2b")
    assert notice.data["unit"] == warning.data["unit"] == "city-urban"
    assert warning.data["instead_of"] == "city-housing"
    assert set(warning.data["persons"]) == URBAN_HANDLERS


async def test_R10_3_no_handler_on_the_roster_at_the_deadline_charges_the_principal_leader(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await wf.read(session, ctx, lead.id, URBAN)
    urban = (await session.execute(select(Unit).where(Unit.code == "city-urban"))).scalar_one()
    await session.execute(update(RosterEntry).where(
        RosterEntry.unit_id == urban.id, RosterEntry.duty == "handler",
        RosterEntry.valid_to.is_(None)).values(valid_to=at("2026-11-30 10:00")))
    # A handler named after the deadline (9 Dec 00:00) answers for nothing before it (R10.2).
    session.add(RosterEntry(unit_id=urban.id, person_name="新经办", duty="handler",
                            valid_from=at("2026-12-10 09:00"), valid_to=None, reported_by="test"))
    await sweep(session, ctx, at("2026-12-10 12:00"))
    [warning] = await events(session, case.id, "efficiency_warning", rule="R11.2b")
    assert (warning.data["persons"], warning.data["duty"], warning.data["R10.3"]) == (
        ["胡永平"], "principal", True)


# --- R8.3d: the city bureau's silence on a district's return ------------------------------


async def test_R8_3d_silence_keeps_item_in_district(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [copy] = await dispatched(session, ctx, case.number, "gulou-bureau")
    moved(ctx, at("2026-11-24 11:00"))
    await special.request_return(session, ctx, copy.id, reason="不属本区", proposed_unit="city-housing",
                                 actor=GULOU)
    report = await sweep(session, ctx, at("2026-11-26 00:00"))
    # Asking back in time answered the district's dispatch clock; the wait is never charged.
    assert (report.return_refused, report.late_dispatch) == (1, 0)
    copy = await queue_of_case(session, case.id)
    assert (copy.state, copy.return_refused) == (AssignmentState.QUEUED, True)
    [refused] = await events(session, case.id, "return_refused_queued")
    assert refused.actor == "sweeper" and (refused.reason or "").startswith("R8.3d")
    now_due = await clocks(session, copy.id)
    assert now_due["return_decision"].missed
    assert (now_due["dispatch"].rule, now_due["dispatch"].due_at) == ("R7.3", at("2026-11-28 00:00"))
    with pytest.raises(WorkflowError, match="R8.3b"):
        await special.request_return(session, ctx, copy.id, reason="再退", proposed_unit="city-housing",
                                     actor=GULOU)
    [lead] = await wf.district_dispatch(session, ctx, case.number, "gulou-urban", GULOU)
    assert lead.state == AssignmentState.DISPATCHED


async def test_R8_3a_late_decision_on_a_units_return_is_the_bureaus_and_refuses_nothing(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number, "city-urban")
    await special.request_return(session, ctx, lead.id, reason="不属本单位",
                                 proposed_unit="city-housing", actor=URBAN)
    report = await sweep(session, ctx, at("2026-12-31 00:00"))
    assert (report.late_return_decision, report.return_refused) == (1, 0)
    assert (report.late_read, report.overdue_handling, report.expired_unhandled) == (0, 0, 0)
    assert lead.state == AssignmentState.RETURN_REQUESTED and not lead.return_refused
    assert (await clocks(session, lead.id))["return_decision"].missed


async def test_R8_3d_return_decided_otherwise_only_stops_its_clock(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [copy] = await dispatched(session, ctx, case.number, "gulou-bureau")
    await special.request_return(session, ctx, copy.id, reason="不属本区", proposed_unit="city-housing",
                                 actor=GULOU)
    # A decision written without stopping the clock (e.g. by an older tool).
    move_assignment(session, case, copy, "return_refused_queued", CITY, now=ctx.clock.now())
    report = await sweep(session, ctx, at("2026-11-26 00:00"))
    decision = (await clocks(session, copy.id))["return_decision"]
    assert (report.return_decided, report.return_refused) == (1, 0)
    assert (decision.missed, decision.met_at) == (False, at("2026-11-26 00:00"))
    assert [e.actor for e in await events(session, case.id, "return_refused_queued")] == [
        "黄国平@city-bureau"]


async def test_clock_of_a_withdrawn_assignment_is_closed_without_blame(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    # A withdrawal written without stopping the unit's clocks: the duty is gone, so is the blame.
    move_assignment(session, case, lead, "withdraw", CITY, now=ctx.clock.now())
    report = await sweep(session, ctx, at("2026-12-10 00:00"))
    assert (report.closed, report.late_read, report.expired_unhandled) == (2, 0, 0)
    assert {c.met_at for c in (await clocks(session, lead.id)).values()} == {at("2026-12-10 00:00")}
    assert len(await events(session, case.id, "deadline_closed")) == 2
    assert not await events(session, case.id, "efficiency_warning")


# --- R8.4a–c: review and redo ------------------------------------------------------------


async def test_R8_4a_late_review_names_the_reviewing_bureau(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    await dispatched(session, ctx, case.number, "gulou-bureau")
    [lead] = await wf.district_dispatch(session, ctx, case.number, "gulou-urban", GULOU)
    await answer_and_submit(session, ctx, lead.id, GULOU_URBAN)
    assert (await sweep(session, ctx, at("2026-11-26 23:59"))).late_review == 0
    report = await sweep(session, ctx, at("2026-11-27 00:00"))
    [late] = await events(session, case.id, "late_review")
    assert report.late_review == 1
    assert (late.assignment_id, late.data["rule"], late.data["reviewer"]) == (
        lead.id, "R8.4a", "gulou-bureau")
    await wf.review(session, ctx, lead.id, passed=True, actor=GULOU)  # late, still reviewed


async def test_R8_4b_R8_4c_redo_not_done_in_three_working_days_is_overdue_handling(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await wf.review(session, ctx, lead.id, passed=False, actor=CITY, comment="未说明维修时间")
    assert (await clocks(session, lead.id))["redo"].due_at == at("2026-11-28 00:00")
    assert (await sweep(session, ctx, at("2026-11-27 23:59"))).overdue_handling == 0
    report = await sweep(session, ctx, at("2026-11-28 00:00"))
    await session.refresh(lead)
    assert report.overdue_handling == 1 and lead.overdue_handling
    [overdue] = await events(session, case.id, "overdue_handling")
    assert overdue.actor == "sweeper" and (overdue.reason or "").startswith("R8.4c")
    assert await events(session, case.id, "efficiency_warning", rule="R11.2b")


# --- R5.2: the city bureau's queue -------------------------------------------------------


async def test_R5_2_case_missing_from_the_city_queue_is_forwarded_late(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    lost = await queue_of_case(session, case.id)
    await session.execute(delete(Deadline).where(Deadline.assignment_id == lost.id))
    await session.execute(delete(Assignment).where(Assignment.id == lost.id))
    session.expunge(lost)
    assert (await sweep(session, ctx, at("2026-11-24 23:59"))).forwarded_late == 0
    report = await sweep(session, ctx, at("2026-11-25 00:00"))
    assert report.forwarded_late == 1
    queue = await queue_of_case(session, case.id)
    assert (queue.state, queue.role) == (AssignmentState.QUEUED, AssignmentRole.BUREAU)
    [late] = await events(session, case.id, "forwarded_late")
    assert (late.assignment_id, late.data["rule"]) == (queue.id, "R5.2")
    assert (await clocks(session, queue.id))["dispatch"].due_at == at("2026-11-27 00:00")
    assert (await sweep(session, ctx, at("2026-11-25 00:01"))).forwarded_late == 0
    [lead] = await dispatched(session, ctx, case.number)
    assert lead.state == AssignmentState.DISPATCHED


# --- R11.1: warnings ---------------------------------------------------------------------


async def test_R11_1_warning_comes_before_the_deadline_and_only_once(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case(at=at("2026-09-30 10:00"))
    [lead] = await dispatched(session, ctx, case.number)
    await sweep(session, ctx, at("2026-10-08 23:59"))
    assert not await events(session, case.id, "deadline_warning", kind="read")
    report = await sweep(session, ctx, at("2026-10-09 00:00"))
    [warning] = await events(session, case.id, "deadline_warning", kind="read")
    assert report.warnings == 1 and warning.assignment_id == lead.id
    assert (warning.data["rule"], warning.data["due_at"], warning.data["provisional"]) == (
        "R8.1", "2026-10-10T00:00:00+08:00", False)
    assert (await sweep(session, ctx, at("2026-10-09 18:00"))).warnings == 0
    assert (await sweep(session, ctx, at("2026-10-10 00:00"))).late_read == 1
    assert len(await events(session, case.id, "deadline_warning", kind="read")) == 1


# --- idempotency, parallel workers, the worker loop ----------------------------------------


async def test_second_sweep_at_the_same_time_finds_nothing_new(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    idle = await make.case()
    await dispatched(session, ctx, idle.number)
    answered = await make.case("五四路井盖缺失")
    [lead] = await dispatched(session, ctx, answered.number)
    await answer_and_submit(session, ctx, lead.id, URBAN)
    waiting = await make.case("台江区噪音扰民")
    first = await sweep(session, ctx, at("2026-12-10 09:00"))
    assert (first.late_read, first.expired_unhandled, first.late_review, first.late_dispatch) == (
        1, 1, 1, 1)
    count = len(list((await session.execute(select(Event.id))).scalars()))
    second = await sweep(session, ctx, at("2026-12-10 09:00"))
    assert second == SweepReport() and second.findings == 0
    assert len(list((await session.execute(select(Event.id))).scalars())) == count
    assert waiting.id


async def _commit_dispatched(engine: AsyncEngine, ctx: Context, store: AttachmentStore, n: int) -> None:
    sessions = make_sessionmaker(engine)
    for i in range(n):
        async with sessions.begin() as s:
            envelope = Envelope(channel=Channel.SMS_MODEM, external_id=f"par-{i}",
                                received_at=ctx.clock.now(), text=f"路灯不亮 {i}",
                                sender="+8613905910001", reply_address="+8613905910001")
            case = (await register(s, envelope, clock=ctx.clock, store=store, due=ctx.due)).case
            await dispatched(s, ctx, case.number)


class RacingSweeper(Sweeper):
    """Holds its first claimed batch until the other sweeper has claimed one too."""

    def __init__(self, engine: AsyncEngine, ctx: Context, barrier: asyncio.Barrier) -> None:
        super().__init__(make_sessionmaker(engine), ctx, batch=3)
        self.barrier, self.first = barrier, True

    async def _lock_units_of_reads(self, session: AsyncSession, rows: Sequence[Deadline]) -> None:
        if self.first:
            self.first = False
            await asyncio.wait_for(self.barrier.wait(), timeout=20)
        await super()._lock_units_of_reads(session, rows)


async def test_parallel_sweepers_never_double_apply_a_consequence(
        engine: AsyncEngine, ctx: Context, tmp_path: Path, backend: str) -> None:
    await _commit_dispatched(engine, ctx, AttachmentStore(tmp_path), 12)
    moved(ctx, at("2026-12-10 09:00"))
    # On PostgreSQL both first batches are claimed (SKIP LOCKED) and in flight at once;
    # SQLite's BEGIN IMMEDIATE lets only one writer in, so there is nothing to wait for.
    barrier = asyncio.Barrier(2 if backend == "postgresql" else 1)
    one, two = (RacingSweeper(engine, ctx, barrier) for _ in range(2))
    reports = await asyncio.gather(one.run_once(), two.run_once())
    assert all(r.late_read for r in reports) or backend == "sqlite"
    assert sum(r.late_read for r in reports) == 12
    assert sum(r.expired_unhandled for r in reports) == 12
    async with make_sessionmaker(engine)() as s:
        rows = list((await s.execute(select(Event))).scalars())
        assert not list((await s.execute(select(Deadline).where(
            Deadline.missed.is_(False), Deadline.met_at.is_(None),
            Deadline.due_at <= ctx.clock.now()))).scalars())
    by_action: dict[str, int] = {}
    for e in rows:
        key = e.action + (f":{e.data['rule']}" if e.action == "efficiency_warning" else "")
        by_action[key] = by_action.get(key, 0) + 1
    assert by_action["late_read"] == by_action["expired_unhandled"] == 12
    assert by_action["unit_notified"] == 24
    # 12 late reads of one unit in one month: a warning at the 3rd, 6th, 9th and 12th, each once.
    assert sorted(e.data["late_reads"] for e in rows
                  if e.action == "efficiency_warning" and e.data["rule"] == "R11.2a") == [3, 6, 9, 12]
    assert by_action["efficiency_warning:R11.2b"] == 12
    assert (await Sweeper(make_sessionmaker(engine), ctx).run_once()).findings == 0


class FlakySweeper(Sweeper):
    """Fails its first run, then signals the test that the loop went on."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(async_sessionmaker(), ctx)
        self.calls: list[str] = []
        self.went_on = asyncio.Event()

    async def recount(self) -> int:
        self.calls.append("recount")
        return 0

    async def run_once(self) -> SweepReport:
        self.calls.append("run")
        if len(self.calls) == 2:
            raise RuntimeError("database went away")
        self.went_on.set()
        return SweepReport()


async def test_sweeper_worker_logs_a_failed_run_and_goes_on(
        ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    flaky = FlakySweeper(ctx)
    with caplog.at_level(logging.ERROR, logger="forwarder.sweeper"):
        async with sweeper_worker(flaky, interval_s=0) as running:
            assert running is flaky
            await asyncio.wait_for(flaky.went_on.wait(), timeout=5)
    assert flaky.calls[:3] == ["recount", "run", "run"]
    [failure] = [r for r in caplog.records if r.exc_info]
    assert "database went away" in str(failure.exc_info[1] if failure.exc_info else "")
    calls = len(flaky.calls)
    await asyncio.sleep(0)
    assert len(flaky.calls) == calls  # the loop stopped with the context


# --- provisional clocks ------------------------------------------------------------------


async def test_provisional_clocks_are_recounted_once_2027_is_confirmed(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    # Monday 1 Feb 2027, before the (placeholder) Spring Festival of the published notice.
    case = await make.case(at=at("2027-02-01 10:00"))
    [lead] = await dispatched(session, ctx, case.number)
    before = await clocks(session, lead.id)
    assert (before["answer"].due_at, before["answer"].provisional) == (at("2027-02-16 00:00"), True)
    published = WorkingCalendar.load(zone=TZ, site_file=FIXTURES / "calendar_2027_notice_published.toml")
    confirmed = Context(clock=ctx.clock, due=CalendarDuePolicy(published), sms_channel=ctx.sms_channel)
    assert await provisional_recount(session, confirmed) == 2
    after = await clocks(session, lead.id)
    assert (after["answer"].due_at, after["answer"].provisional) == (at("2027-02-20 00:00"), False)
    assert (after["read"].due_at, after["read"].provisional) == (at("2027-02-04 00:00"), False)
    recounted = await events(session, case.id, "deadline_recounted", kind="answer")
    assert [(e.data["old_due_at"], e.data["due_at"]) for e in recounted] == [
        ("2027-02-16T00:00:00+08:00", "2027-02-20T00:00:00+08:00")]
    assert await provisional_recount(session, confirmed) == 0
    report = await sweep(session, confirmed, at("2027-02-16 00:00"))
    assert (report.late_read, report.expired_unhandled) == (1, 0)
