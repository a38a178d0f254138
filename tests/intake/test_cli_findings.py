"""``hotline findings list|decide|contest|notice --as USER``: the same checks as the API and
the desk (R11.2b decisions, R11.1 hand notices, a unit's contest of issue 15.3)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import workflow as wf
from forwarder.findings import record_charge
from forwarder.workflow_base import unit_by_code
from registrar.models import Case
from tests.forwarder import kit
from tests.intake.test_cli_ops import Db, db, run

__all__ = ["db"]  # the fixture, imported for this module's tests


def charge(db: Db, unit: str = "city-urban") -> int:
    """A dispatched case of ``unit`` and the R11.2b finding the sweeper would record on it."""
    number = db.register()

    async def work(session: AsyncSession) -> int:
        await wf.accept(session, db.ctx, number, kit.CITY)
        [lead] = await wf.dispatch(session, db.ctx, number, unit, kit.CITY)
        case = (await session.execute(select(Case).where(Case.number == number))).scalar_one()
        charged = await unit_by_code(session, unit)
        made = record_charge(session, case=case, assignment_id=lead.id, charged=charged, late=charged,
                             persons=["经办人"], at=db.clock.now())
        await session.flush()
        return made.id
    return db.tx(work)


def test_R11_2b_decide_and_list_with_history(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    fid = charge(db)
    code, _, err = run(capsys, "findings", "decide", str(fid), "confirm", "--reason", "人为", "--as", "urban")
    assert code == 1 and "forbidden" in err  # 403: a unit never judges
    code, out, _ = run(capsys, "findings", "decide", str(fid), "waive", "--reason", "需其他部门先行处置",
                       "--as", "efficiency")
    assert code == 0 and f"#{fid}" in out and "waived" in out
    code, out, _ = run(capsys, "findings", "list", "--status", "waived", "--as", "efficiency")
    assert code == 0 and re.search(rf"#{fid}\s+R11\.2b\s+waived", out)
    assert "waive" in out and "需其他部门先行处置" in out and "1 finding(s)" in out


def test_issue15_contest_by_the_unit_and_withdrawal(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    fid = charge(db)
    code, _, err = run(capsys, "findings", "contest", str(fid), "--reason", "停电", "--as", "gulou-urban")
    assert code == 1 and "not_found" in err  # 404: not its finding
    code, out, _ = run(capsys, "findings", "contest", str(fid), "--reason", "当日停电", "--as", "urban")
    assert code == 0 and "contested" in out
    code, _, err = run(capsys, "findings", "contest", str(fid), "--reason", "再诉", "--as", "urban-leader")
    assert code == 1 and "illegal" in err  # 409: once only
    code, out, _ = run(capsys, "findings", "decide", str(fid), "withdraw", "--reason", "属实",
                       "--as", "efficiency")
    assert code == 0 and "withdrawn" in out
    code, out, _ = run(capsys, "findings", "list", "--as", "urban")
    assert "contest" in out and "withdraw" in out and "no contest" in out


def test_R11_1_notice_by_hand(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    number = db.register()
    code, out, _ = run(capsys, "findings", "notice", "city-urban", "--reason", "推诿", "--case", number,
                       "--as", "efficiency")
    assert code == 0 and "notice" in out and "confirmed" in out
    code, _, err = run(capsys, "findings", "notice", "city-urban", "--reason", "推诿", "--as", "city")
    assert code == 1 and "forbidden" in err
