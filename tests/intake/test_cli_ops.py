"""``hotline user …`` and ``hotline case … --as USER`` through ``intake.cli.main``."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contract.clock import FixedClock
from contract.envelope import Channel, Envelope
from desks.access.accounts import seed_demo_accounts
from desks.access.auth import principal_for_token
from forwarder import workflow as wf
from forwarder.calendar import WorkingCalendar
from forwarder.due import CalendarDuePolicy
from forwarder.workflow_base import Context
from intake import cli_ops
from intake.cli import main
from registrar.attachments import AttachmentStore
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Case
from registrar.registration import register
from tests.conftest import TZ
from tests.forwarder import kit
from tests.forwarder.api_kit import FAST_HASHER, dissatisfy

T = TypeVar("T")


class Db:
    """The test database as the CLI sees it, with a pinned clock."""

    def __init__(self, url: str, root: Path, clock: FixedClock) -> None:
        self.url, self.store, self.clock, self.count = url, AttachmentStore(root), clock, 0
        self.ctx = Context(clock=clock, due=CalendarDuePolicy(WorkingCalendar.load(zone=TZ)))

    def tx(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def run() -> T:
            engine = create_engine(self.url)
            try:
                async with make_sessionmaker(engine).begin() as session:
                    return await work(session)
            finally:
                await engine.dispose()
        return asyncio.run(run())

    def register(self, text: str = "五四路路灯不亮已经一周", sender: str = "+8613905910001") -> str:
        self.count += 1
        envelope = Envelope(channel=Channel.SMS_MODEM, external_id=f"cli-{self.count}",
                            received_at=self.clock.now(), text=text, sender=sender,
                            reply_address=sender, public_allowed=True)

        async def work(session: AsyncSession) -> str:
            made = await register(session, envelope, clock=self.clock, store=self.store,
                                  due=self.ctx.due)
            return made.case.number
        return self.tx(work)

    def status(self, number: str) -> str:
        async def work(session: AsyncSession) -> str:
            return (await session.execute(select(Case.status).where(Case.number == number))).scalar_one()
        return self.tx(work)


@pytest.fixture
def db(db_url: str, tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Db:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(cli_ops, "make_clock", lambda settings: clock)
    database = Db(db_url, tmp_path / "files", clock)

    async def seed(session: AsyncSession) -> None:
        await seed_demo_accounts(session, clock.now(), hasher=FAST_HASHER)
    database.tx(seed)
    return database


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_user_add_and_token_that_authenticates(db: Db, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    code, out, _ = run(capsys, "user", "add", "housing", "--role", "unit_handler",
                       "--unit", "city-housing", "--name", "宋丽娟", "--password-stdin")
    assert code == 0 and "housing" in out
    code, out, _ = run(capsys, "user", "token", "housing", "--label", "laptop")
    token = out.splitlines()[0]
    assert code == 0 and len(token) >= 40

    async def who(session: AsyncSession) -> tuple[str, str | None] | None:
        found = await principal_for_token(session, token)
        return None if found is None else (found.role, found.unit_code)
    assert db.tx(who) == ("unit_handler", "city-housing")
    code, out, _ = run(capsys, "user", "revoke", "housing")
    assert code == 0 and "1 token" in out
    assert db.tx(who) is None


def test_user_add_refuses_role_outside_its_unit_kind_and_short_password(
        db: Db, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    code, _, err = run(capsys, "user", "add", "x", "--role", "unit_leader", "--unit", "city-bureau",
                       "--name", "某人", "--password-stdin")
    assert code == 1 and "与所属单位不符" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = run(capsys, "user", "add", "y", "--role", "admin", "--name", "某人",
                       "--password-stdin")
    assert code == 1 and "10" in err


def test_R4_R8_4_R9_case_accept_dispatch_review_publish_as_city(
        db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    number = db.register()
    code, out, _ = run(capsys, "case", "accept", number, "--as", "city")
    assert code == 0 and "public" in out
    code, out, _ = run(capsys, "case", "dispatch", number, "city-urban", "--co", "city-housing",
                       "--as", "city")
    ids = [int(i) for i in re.findall(r"assignment #(\d+)", out)]
    assert code == 0 and len(ids) == 2 and "lead" in out and "co" in out
    lead = ids[0]

    async def answer(session: AsyncSession) -> None:
        await kit.answer_and_submit(session, db.ctx, lead, kit.URBAN)
    db.tx(answer)
    code, out, _ = run(capsys, "case", "review", str(lead), "--pass", "--as", "city")
    assert code == 0 and "passed" in out
    code, out, _ = run(capsys, "case", "publish", number, "--yes", "--as", "city")
    assert code == 0 and "published" in out
    assert db.status(number) == "closed"


def test_R3_5_not_accept_and_refusals_exit_1(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    number = db.register()
    code, _, err = run(capsys, "case", "accept", number, "--as", "urban")
    assert code == 1 and "forbidden" in err
    code, _, err = run(capsys, "case", "accept", "FZ-none", "--as", "city")
    assert code == 1 and "not_found" in err
    code, _, err = run(capsys, "case", "accept", number, "--as", "ghost")
    assert code == 1 and "no account" in err
    code, _, err = run(capsys, "case", "not-accept", number, "R3.77", "--as", "city")
    assert code == 1 and "invalid" in err
    code, out, _ = run(capsys, "case", "not-accept", number, "R3.5", "--as", "city")
    assert code == 0 and "R3.5" in out
    assert db.status(number) == "not_accepted"
    code, _, err = run(capsys, "case", "accept", number, "--as", "city")
    assert code == 1 and "illegal" in err


def test_R8_4b_review_fail_needs_comment(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    number = db.register()

    async def submitted(session: AsyncSession) -> int:
        [lead] = await kit.dispatched(session, db.ctx, number)
        await kit.answer_and_submit(session, db.ctx, lead.id, kit.URBAN)
        return lead.id
    aid = db.tx(submitted)
    code, _, err = run(capsys, "case", "review", str(aid), "--fail", "--as", "city")
    assert code == 1 and "invalid" in err
    code, out, _ = run(capsys, "case", "review", str(aid), "--fail", "--comment", "答非所问",
                       "--as", "city")
    assert code == 0 and "redo" in out


def test_R8_5_repeats_lists_earlier_items_of_the_same_citizen(
        db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    first = db.register()
    second = db.register()
    code, out, _ = run(capsys, "case", "repeats", second, "--as", "city")
    assert code == 0 and first in out and "1 earlier similar item(s)" in out
    code, _, err = run(capsys, "case", "repeats", second, "--as", "urban")
    assert code == 1 and "forbidden" in err


def test_case_actions_need_as_and_show_still_works(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    number = db.register()
    with pytest.raises(SystemExit) as exited:
        main(["case", "accept", number])
    assert exited.value.code == 2
    capsys.readouterr()
    code, out, _ = run(capsys, "case", "show", number)
    assert code == 0 and number in out


def test_demo_accounts_act_by_role(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    """A district bureau dispatches to its own units (R7.3) through the same command."""
    number = db.register()

    async def to_gulou(session: AsyncSession) -> None:
        await wf.accept(session, db.ctx, number, kit.CITY)
        await wf.dispatch(session, db.ctx, number, "gulou-bureau", kit.CITY)
    db.tx(to_gulou)
    code, out, _ = run(capsys, "case", "dispatch", number, "gulou-urban", "--as", "gulou")
    assert code == 0 and "lead" in out
    code, _, err = run(capsys, "case", "dispatch", number, "gulou-urban", "--as", "taijiang")
    assert code == 1 and "not_found" in err


def test_every_action_from_the_cli_with_the_apis_rules(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    """`hotline case act`: read, draft, approve, submit, split, escalate … as any account."""
    number = db.register()
    assert run(capsys, "case", "act", "accept", number, "--as", "city")[0] == 0
    code, out, _ = run(capsys, "case", "act", "dispatch", number, "unit=city-urban", "--as", "city")
    lead = str(json.loads(out)["assignments"][0]["id"])
    assert run(capsys, "case", "act", "read", lead, "--as", "urban")[0] == 0
    assert run(capsys, "case", "act", "draft", lead, "text=已修复路灯", "--as", "urban")[0] == 0
    code, _, err = run(capsys, "case", "act", "approve", lead, "--as", "urban")
    assert code == 1 and "forbidden" in err  # R8.2c: only the leader
    assert run(capsys, "case", "act", "approve", lead, "--as", "urban-leader")[0] == 0
    assert run(capsys, "case", "act", "submit", lead, "--as", "urban")[0] == 0
    assert run(capsys, "case", "act", "review", lead, "passed=true", "--as", "city")[0] == 0
    assert run(capsys, "case", "act", "publication", number, "publish=true", "--as", "city")[0] == 0
    assert db.status(number) == "closed"
    other = db.register("三坊七巷周边占道经营，夜市噪音大")
    assert run(capsys, "case", "act", "accept", other, "--as", "city")[0] == 0
    code, out, _ = run(capsys, "case", "act", "split", other, "parts[]=占道经营", "parts[]=夜市噪音",
                       "--as", "city")
    assert code == 0 and db.status(other) == "split"
    code, _, err = run(capsys, "case", "act", "read", lead, "--as", "taijiang")
    assert code == 1


def test_R12_1_callback_follow_up_from_the_cli(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    """`hotline case act callback-follow-up NUMBER outcome=redo --as city`: the API's action,
    offered by `case actions` only while a dissatisfied call-back waits."""
    number = db.register()
    assert run(capsys, "case", "act", "accept", number, "--as", "city")[0] == 0
    code, out, _ = run(capsys, "case", "act", "dispatch", number, "unit=city-urban", "--as", "city")
    lead = str(json.loads(out)["assignments"][0]["id"])
    for action, user, *fields in (("read", "urban"), ("draft", "urban", "text=已修复路灯"),
                                  ("approve", "urban-leader"), ("submit", "urban"),
                                  ("review", "city", "passed=true")):
        assert run(capsys, "case", "act", action, lead, *fields, "--as", user)[0] == 0
    db.tx(lambda session: dissatisfy(session, db.ctx, number))
    code, out, _ = run(capsys, "case", "actions", number, "--as", "city")
    [line] = [x for x in out.splitlines() if x.split()[1] == "callback-follow-up"]
    assert line.startswith("yes") and "review, redo, efficiency_office" in line
    code, _, _ = run(capsys, "case", "act", "callback-follow-up", number, "outcome=redo",
                     "note=答复未说明维修时间", "--as", "city")
    assert code == 0 and db.status(number) == "dispatched"
    code, _, err = run(capsys, "case", "act", "callback-follow-up", number, "outcome=review",
                       "--as", "city")
    assert code == 1 and "没有待跟进的回访不满意" in err


def test_case_actions_lists_what_the_workflow_allows_and_act_refuses_with_its_reason(
        db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    """`hotline case actions` prints ``forwarder.allowed``; `act` refuses by the same reason."""
    number = db.register()
    code, out, _ = run(capsys, "case", "actions", number, "--as", "city")
    allowed = {line.split()[1] for line in out.splitlines() if line.startswith("yes")}
    assert code == 0 and allowed == {"accept", "accept-dispatch", "not-accept"}
    stop = next(line for line in out.splitlines() if line.split()[1] == "stop")
    assert stop.startswith("no") and "illegal: R8.5b: 同一诉求已答复 0 次" in stop
    code, _, err = run(capsys, "case", "act", "split", number, "parts[]=甲", "--as", "city")
    assert code == 1 and f"illegal: 案件 {number} 当前为“已登记待甄别”，不能拆分" in err
    code, out, _ = run(capsys, "case", "actions", number, "--as", "urban")
    assert code == 1  # not visible to a unit it was never sent to
