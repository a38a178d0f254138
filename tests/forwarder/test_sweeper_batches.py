"""The sweeper settles a batch of missed clocks under one savepoint, with its lookups read once
(``Sweeper._settle_batch``, ``forwarder.charges.BatchLookups``); these prove that this records
exactly what settling the clocks one by one records, and that one clock's failure, in its
consequence or when the database refuses what it wrote, still undoes only that clock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from forwarder import charges
from forwarder import sweeper_consequences as consequences
from forwarder import workflow as wf
from forwarder import workflow_special as special
from forwarder.sweeper import Sweeper, SweepReport
from forwarder.sweeper_consequences import Missed
from forwarder.workflow_base import Context
from registrar.models import Assignment, Case, Deadline, DeadlineKind, Event, Unit
from registrar.models_supervision import Finding
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import CITY, URBAN, answer_and_submit, dispatched
from tests.forwarder.test_sweeper import at, moved

WHEN = at("2026-12-10 09:00")
"""Read (2 working days) and answer (10) clocks of items dispatched on 23 Nov have run out."""


class OneByOne(Sweeper):
    """Settles every clock under its own savepoint, reading as it goes: the sweeper before
    batches, and what it still does after a batch failed."""

    async def _settle_batch(self, session: AsyncSession, rows: Sequence[Deadline], locked: set[int],
                            now: datetime, passed: set[int], tally: Any) -> bool:
        return False


async def sweep(session: AsyncSession, ctx: Context, kind: type[Sweeper] = Sweeper, *,
                batch: int = 100) -> SweepReport:
    """One sweep at ``WHEN`` in its own transaction (a savepoint of the test's connection)."""
    moved(ctx, WHEN)
    await session.flush()
    sessions = async_sessionmaker(bind=session.bind, join_transaction_mode="create_savepoint",
                                  expire_on_commit=False)
    return await kind(sessions, ctx, batch=batch).run_once()


async def recorded(session: AsyncSession) -> dict[str, Any]:
    """Everything a sweep writes, in the order it was written, without the ids it was given."""
    events = (await session.execute(select(Event).where(Event.actor == "sweeper").order_by(Event.id)
                                    .execution_options(populate_existing=True))).scalars()
    findings = (await session.execute(select(Finding).order_by(Finding.id)
                                      .execution_options(populate_existing=True))).scalars()
    clocks = (await session.execute(select(Deadline).order_by(Deadline.id)
                                    .execution_options(populate_existing=True))).scalars()
    flags = (await session.execute(select(Assignment).order_by(Assignment.id)
                                   .execution_options(populate_existing=True))).scalars()
    return {
        "events": [(e.case_id, e.assignment_id, e.action, e.reason, e.deadline, e.data) for e in events],
        "findings": [(f.case_id, f.assignment_id, f.unit_id, f.late_unit_id, f.persons, f.status)
                     for f in findings],
        "clocks": [(d.id, d.missed, d.met_at, d.cancelled) for d in clocks],
        "flags": [(a.id, a.state, a.late_read, a.overdue_handling, a.expired_unhandled)
                  for a in flags],
    }


async def busy_month(session: AsyncSession, ctx: Context, make: Maker) -> None:
    """Late reads past R11.2a's third, answers past R11.3's third warning, a joint item whose
    refusing lead unit is charged, a late review, a late dispatch and a withdrawn item."""
    for i in range(7):
        case = await make.case(f"路灯不亮 {i}")
        await dispatched(session, ctx, case.number)
    read = await make.case("五四路井盖缺失")
    [lead] = await dispatched(session, ctx, read.number)
    await wf.read(session, ctx, lead.id, URBAN)
    submitted = await make.case("台江区噪音扰民")
    [lead] = await dispatched(session, ctx, submitted.number)
    await answer_and_submit(session, ctx, lead.id, URBAN)
    joint = await make.case("井盖松动")
    lead, _co = await dispatched(session, ctx, joint.number, co_units=("city-housing",))
    await special.request_return(session, ctx, lead.id, reason="不属本单位职责",
                                 proposed_unit="city-transport", actor=URBAN)
    await special.decide_return(session, ctx, lead.id, accept=False, actor=CITY, comment="属城管职责")
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await make.case("无人受理")  # the city bureau's dispatch clock runs out
    withdrawn = await make.case("重复来电")
    [lead] = await dispatched(session, ctx, withdrawn.number)
    lead.state = "withdrawn"


@pytest.mark.parametrize("batch", [3, 100])
async def test_a_batch_records_what_one_clock_at_a_time_records(
        session: AsyncSession, ctx: Context, make: Maker, batch: int) -> None:
    await busy_month(session, ctx, make)
    await session.flush()
    # Both sweeps from the same start: the first one's work is rolled back to a savepoint.
    await session.execute(text("SAVEPOINT before_sweeps"))
    one_by_one = await sweep(session, ctx, OneByOne, batch=batch)
    expected = await recorded(session)
    await session.execute(text("ROLLBACK TO SAVEPOINT before_sweeps"))
    batched = await sweep(session, ctx, batch=batch)
    got = await recorded(session)
    assert batched == one_by_one and batched.failed == 0
    assert (batched.late_read, batched.efficiency_warnings, batched.late_review, batched.late_dispatch,
            batched.closed) == (8, 11, 2, 1, 2)
    assert got == expected
    actions = [e[2] for e in got["events"]]
    assert actions.count("escalated_to_efficiency_office") > 1 and "escalated_to_leader" in actions
    # 2 of R11.2a (3rd and 6th of 7 late reads), 9 of R11.2b, one for the co-handler's item.
    warned = [e[5] for e in got["events"] if e[2] == "efficiency_warning"]
    assert {w["unit"] for w in warned} == {"city-urban"}
    assert [w.get("instead_of") for w in warned].count("city-housing") == 1


async def _case_of(session: AsyncSession, case_id: int) -> tuple[list[str], dict[str, Deadline]]:
    actions = list((await session.execute(select(Event.action).where(
        Event.case_id == case_id, Event.actor == "sweeper").order_by(Event.id))).scalars())
    rows = (await session.execute(select(Deadline).where(Deadline.case_id == case_id)
                                  .execution_options(populate_existing=True))).scalars()
    return actions, {d.kind: d for d in rows}


async def test_a_failing_clock_undoes_only_itself_not_the_next_clock_of_its_assignment(
        session: AsyncSession, ctx: Context, make: Maker, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # Never read: the read clock (due first) and the answer clock of one assignment, one batch.
    case = await make.case()
    await dispatched(session, ctx, case.number)
    late_read = consequences._late_read

    async def broken(session: AsyncSession, ctx: Context, m: Missed, tally: Any) -> None:
        await late_read(session, ctx, m, tally)  # its writes are made, then undone
        raise RuntimeError("the roster service is down")

    monkeypatch.setattr(consequences, "_late_read", broken)
    with caplog.at_level(logging.ERROR, logger="forwarder.sweeper"):
        report = await sweep(session, ctx)
    assert (report.failed, report.late_read, report.expired_unhandled) == (1, 0, 1)
    assert (report.unit_notices, report.efficiency_warnings) == (1, 1)  # R11.2b, once
    [failure] = [r for r in caplog.records if r.exc_info]
    assert "the roster service is down" in str(failure.exc_info[1] if failure.exc_info else "")
    actions, clocks = await _case_of(session, case.id)
    assert actions == ["expired_unhandled", "unit_notified", "efficiency_warning"]
    assert clocks[DeadlineKind.ANSWER].missed and not clocks[DeadlineKind.READ].missed
    monkeypatch.setattr(consequences, "_late_read", late_read)
    again = await sweep(session, ctx)  # the failed clock is retried, the other is not
    assert (again.failed, again.late_read, again.expired_unhandled) == (0, 1, 0)
    actions, clocks = await _case_of(session, case.id)
    assert actions == ["expired_unhandled", "unit_notified", "efficiency_warning", "late_read",
                       "unit_notified"]
    assert clocks[DeadlineKind.READ].missed


async def test_a_row_the_database_refuses_undoes_only_its_clock(
        session: AsyncSession, ctx: Context, make: Maker, monkeypatch: pytest.MonkeyPatch) -> None:
    # In a batch nothing is written before its end: the refusal comes after every consequence.
    refused, fine = await make.case(), await make.case("五四路井盖缺失")
    for case in (refused, fine):
        [lead] = await dispatched(session, ctx, case.number)
        await wf.read(session, ctx, lead.id, URBAN)  # only the answer clocks run out
    record_charge = charges.record_charge

    def spoiled(session: AsyncSession, *, case: Case, assignment_id: int, charged: Unit,
                late: Unit, persons: list[str], at: datetime) -> Finding:
        finding = record_charge(session, case=case, assignment_id=assignment_id, charged=charged,
                                late=late, persons=persons, at=at)
        if case.id == refused.id:
            finding.status = None  # type: ignore[assignment]  # NOT NULL: refused on flush
        return finding

    monkeypatch.setattr(charges, "record_charge", spoiled)
    report = await sweep(session, ctx)
    assert (report.failed, report.overdue_handling, report.efficiency_warnings) == (1, 1, 1)
    actions, clocks = await _case_of(session, refused.id)
    assert actions == [] and not clocks[DeadlineKind.ANSWER].missed
    actions, clocks = await _case_of(session, fine.id)
    assert actions == ["overdue_handling", "unit_notified", "efficiency_warning"]
    assert clocks[DeadlineKind.ANSWER].missed
    assert len(list((await session.execute(select(Finding))).scalars())) == 1


async def _statements_of_sweep(session: AsyncSession, ctx: Context, backend: str) -> int:
    """Statements one sweep sends, not counting INSERTs on SQLite: there the ORM inserts rows
    one at a time (each ``INSERT … RETURNING`` in process, no round trip), batch or not."""
    bind = session.bind
    assert isinstance(bind, AsyncConnection)
    counted = [0]

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if backend != "sqlite" or not statement.startswith("INSERT"):
            counted[0] += 1

    event.listen(bind.sync_engine, "before_cursor_execute", count)
    try:
        report = await sweep(session, ctx)
    finally:
        event.remove(bind.sync_engine, "before_cursor_execute", count)
    assert report.failed == 0 and report.expired_unhandled > 0
    return counted[0]


async def test_a_batch_costs_statements_per_batch_not_per_clock(
        session: AsyncSession, ctx: Context, make: Maker, backend: str) -> None:
    # Unread items: a late read (R11.2a, a warning each third) and an expired answer (R11.2b,
    # escalated from the second warning on) each. One by one this was ~20 statements an item.
    for i in range(3):
        await dispatched(session, ctx, (await make.case(f"路灯不亮 {i}")).number)
    few = await _statements_of_sweep(session, ctx, backend)
    moved(ctx, at("2026-11-24 10:00"))  # as the first ones: due by the same sweep
    for i in range(12):
        await dispatched(session, ctx, (await make.case(f"井盖缺失 {i}")).number)
    many = await _statements_of_sweep(session, ctx, backend)
    assert many - few <= 6, (few, many)
