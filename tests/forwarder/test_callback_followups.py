"""R12 回访不满意: what the city bureau's follow-up does, on both databases (issue 14.4).

A case answered by SMS is rated 3 on the call-back (the real outbox, the real SMS
commands); the city bureau then follows up through the API as the desk form posts:
``redo`` sends it back to the unit with a fresh R8.4b redo clock and the new answer is
reviewed, sent and asked about again; ``efficiency_office`` makes a finding the office
sees and judges; ``review`` is a note on the history. With nothing waiting, each is 409.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from contract.clock import FixedClock
from contract.envelope import Channel
from forwarder.callbacks import REQUEST_KIND, dissatisfied_cases
from forwarder.outbox import OutboxDispatcher
from forwarder.ranking import counts
from forwarder.supervision import UnitStats, unit_stats
from intake.sms_commands import RegistrarSmsCommands
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Assignment, Case, Deadline, Notice
from registrar.models_cockpit import CallbackRating
from registrar.models_supervision import Finding
from tests.forwarder.api_kit import Api, make_api
from tests.forwarder.test_callbacks import PHONE, _answered_and_asked
from tests.forwarder.test_desk_cases import Desk, section
from tests.forwarder.test_outbox import POLICY, RecordingDeliverer

Client = TestClient[Any, Any]


async def _dissatisfied(client: Client, settings: Settings, clock: FixedClock, tmp_path: Path,
                        text: str) -> tuple[Api, Desk, str, str]:
    """The API and the desk, a closed case whose citizen answered the call-back with "3",
    and the API path of its follow-up."""
    desk = Desk(await make_api(client, tmp_path))
    number, _ = await _answered_and_asked(settings, clock, text)
    await _rate(settings, clock, 3)
    return desk.api, desk, number, f"/cases/{number}/callback-follow-up"


async def _rate(settings: Settings, clock: FixedClock, choice: int) -> None:
    engine = create_engine(settings.database_url)
    try:
        clock.advance(timedelta(hours=1))
        taken = await RegistrarSmsCommands(make_sessionmaker(engine), clock, 7).rate(
            choice, PHONE, channel=Channel.SMS_MODEM, in_reply=False)
        assert taken.taken
    finally:
        await engine.dispose()


async def _urban(session: AsyncSession, clock: FixedClock) -> UnitStats:
    """city-urban's figures for the days around now (the case was dispatched in them)."""
    stats = await unit_stats(session, clock.now() - timedelta(days=2), clock.now() + timedelta(days=1))
    return next(u for u in stats if u.unit_code == "city-urban")


async def _send_outbox(settings: Settings, clock: FixedClock) -> RecordingDeliverer:
    sms = RecordingDeliverer(Channel.SMS_MODEM)
    engine = create_engine(settings.database_url)
    try:
        outbox = OutboxDispatcher(make_sessionmaker(engine), {Channel.SMS_MODEM: sms}, clock,
                                  policy=POLICY, callback_window_days=7)
        await outbox.run_once()
        await outbox.run_once()
    finally:
        await engine.dispose()
    return sms


async def test_R12_1_R8_4b_dissatisfied_redo_goes_to_the_unit_and_the_new_answer_is_asked_again(
        client: Client, settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    api, desk, number, path = await _dissatisfied(client, settings, clock, tmp_path, "五四路路灯不亮")
    ctx = api.deps.ctx
    status, page = await desk.get("city", f"/desk/cases/{number}")
    form = section(page, "act-callback-follow-up")
    assert status == 200 and all(f'value="{v}"' in form
                                 for v in ("review", "redo", "efficiency_office"))

    status, _ = await api.post("city", path, {"outcome": "redo", "note": "答复未说明维修时间"})
    assert status == 200
    redo_at = ctx.clock.now()
    async with api.deps.sessionmaker() as s:
        case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
        assert (case.status, case.closed_at) == ("dispatched", None)
        lead = (await s.execute(select(Assignment).where(
            Assignment.case_id == case.id, Assignment.role == "lead"))).scalar_one()
        assert lead.state == "redo"
        clock_row = (await s.execute(select(Deadline).where(
            Deadline.assignment_id == lead.id, Deadline.kind == "redo"))).scalar_one()
        assert clock_row.rule == "R8.4b" and clock_row.met_at is None
        assert clock_row.due_at == ctx.due.due(redo_at, 3).at  # 3 working days, R8.4b's count
        assert await dissatisfied_cases(s) == []
    _, inbox = await desk.get("urban", "/desk/inbox")
    assert number in section(inbox, "section-inbox")
    _, page = await desk.get("city", f"/desk/cases/{number}")
    history = section(page, "history")
    assert "回访不满意，责成重新办理" in history and "答复未说明维修时间" in history
    assert 'id="act-callback-follow-up"' not in page  # nothing waits any more

    aid = lead.id
    for user, step, body in (("urban", "draft", {"text": "已于本周更换灯具，夜间恢复照明。"}),
                             ("urban-leader", "approve", {}), ("urban", "submit", {}),
                             ("city", "review", {"passed": True})):
        status, answer = await api.post(user, f"/assignments/{aid}/{step}", body)
        assert status == 200, (step, answer)
    status, _ = await api.post("city", f"/cases/{number}/publication", {"publish": True})
    assert status == 200

    sms = await _send_outbox(settings, clock)
    texts = [n.text for n in sms.sent]
    assert any("更换灯具" in t for t in texts) and any("回复1满意" in t for t in texts)
    told = next(i for i, t in enumerate(texts) if "已责成" in t)  # the citizen heard of the redo
    assert number in texts[told] and "城市管理委员会" in texts[told]
    assert told < next(i for i, t in enumerate(texts) if "更换灯具" in t)
    await _rate(settings, clock, 1)  # the redone answer is rated on its own request
    async with api.deps.sessionmaker() as s:
        case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
        assert case.status == "closed"
        assert (await s.execute(select(Deadline.met_at).where(
            Deadline.assignment_id == aid, Deadline.kind == "redo"))).scalar_one() is not None
        requests = (await s.execute(select(Notice.id).where(
            Notice.case_id == case.id, Notice.kind == REQUEST_KIND))).scalars().all()
        ratings = (await s.execute(select(CallbackRating).where(
            CallbackRating.case_id == case.id).order_by(CallbackRating.id))).scalars().all()
        assert len(requests) == 2
        assert [(r.score, r.request_notice_id) for r in ratings] == [
            (1, requests[0]), (5, requests[1])]
        # The figures and the ranking read both call-backs.
        urban = await _urban(s, clock)
        assert (urban.callbacks, urban.callback_avg) == (2, 3.0)
        assert counts(urban)["satisfaction"] == (1.0, 2)
    assert (await api.post("city", path, {"outcome": "redo"}))[0] == 409


async def test_R12_1_dissatisfied_submitted_to_the_efficiency_office_is_a_finding_it_judges(
        client: Client, settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    api, desk, number, path = await _dissatisfied(client, settings, clock, tmp_path, "小区噪音扰民")
    status, _ = await api.post("city", path, {"outcome": "efficiency_office",
                                              "note": "承办单位答复敷衍"})
    assert status == 200
    async with api.deps.sessionmaker() as s:
        case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
        finding = (await s.execute(select(Finding))).scalar_one()
        assert (finding.kind, finding.case_id, finding.status) == ("callback", case.id, "charged")
        assert "回访不满意" in finding.reason and "承办单位答复敷衍" in finding.reason
        assert case.status == "closed"  # a referral sends nothing back
    _, desk_page = await desk.get("efficiency", "/desk/supervision/findings")
    row = desk_page[desk_page.index(f'id="f{finding.id}"'):]
    assert number in row[:2000] and "回访不满意" in row[:4000]
    assert 'action="/desk/supervision/findings/' in row[:4000]  # the office may judge it
    status, _ = await api.post("efficiency", f"/findings/{finding.id}/decide",
                               {"decision": "confirm", "reason": "答复未回应诉求"})
    assert status == 200
    status, _ = await api.post("efficiency", f"/findings/{finding.id}/decide",
                               {"decision": "lead_justified", "reason": "不适用"})
    assert status == 400
    async with api.deps.sessionmaker() as s:
        urban = await _urban(s, clock)
        assert (urban.charges, urban.notices, urban.marks) == (0, 0, 0)  # a referral, no mark
    _, page = await desk.get("city", f"/desk/cases/{number}")
    assert "提交效能办" in section(page, "history")
    assert (await api.post("city", path, {"outcome": "efficiency_office"}))[0] == 409


async def test_R12_1_review_keeps_the_answer_as_a_note_and_nothing_waiting_is_409(
        client: Client, settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    api, desk, number, path = await _dissatisfied(client, settings, clock, tmp_path, "井盖缺失")
    assert (await api.post("city", path, {"outcome": "shrug"}))[0] == 400
    assert (await api.post("urban", path, {"outcome": "review"}))[0] == 403
    assert (await api.post("city", path, {"outcome": "review", "note": "答复符合政策"}))[0] == 200
    for outcome in ("review", "redo", "efficiency_office"):
        assert (await api.post("city", path, {"outcome": outcome}))[0] == 409
    _, page = await desk.get("city", f"/desk/cases/{number}")
    history = section(page, "history")
    assert "回访不满意已跟进" in history and "复核后维持答复：答复符合政策" in history
    async with api.deps.sessionmaker() as s:
        case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
        assert case.status == "closed" and (await s.execute(select(Finding))).first() is None
    # A case nobody rated 3 has nothing to follow up.
    other, _ = await api.case_at("answered")
    status, answer = await api.post("city", f"/cases/{other}/callback-follow-up",
                                    {"outcome": "redo"})
    assert status == 409 and "回访不满意" in str(answer)
