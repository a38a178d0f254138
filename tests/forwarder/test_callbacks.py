"""R12 回访 by SMS on both databases: the answer goes out, the outbox asks for a rating, the
citizen's "3" lands on the case with its follow-up, and the ranking counts it.

Cases are driven to closed through the real workflow (``closed_case``); the SMS
channel is a recording fake behind the real outbox; the citizen's reply goes
through ``RegistrarSmsCommands.rate``, as the SMS channels call it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from channels.sms_twilio.handling import Kind, process
from channels.sms_twilio.inbound import InboundSms
from config.settings import Settings
from contract.clock import FixedClock
from contract.envelope import Channel, Envelope, Receipt
from contract.sms_keywords import parse_keyword, parse_rating
from forwarder.calendar import WorkingCalendar
from forwarder.callback_followups import follow_up
from forwarder.callbacks import REQUEST_KIND, dissatisfied_cases
from forwarder.due import CalendarDuePolicy
from forwarder.outbox import OutboxDispatcher
from forwarder.ranking import counts
from forwarder.supervision import unit_stats
from forwarder.workflow_base import Context
from intake.sms_commands import RegistrarSmsCommands
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Case, Event, Notice
from registrar.models_cockpit import CallbackRating
from tests.forwarder.api_kit import make_api
from tests.forwarder.kit import CITY
from tests.forwarder.test_desk_cases import Desk, section
from tests.forwarder.test_outbox import POLICY, RecordingDeliverer
from tests.forwarder.test_portal import closed_case

PHONE = "+8613905910001"
OTHER = "+8613905910099"


async def _answered_and_asked(settings: Settings, clock: FixedClock,
                              text: str) -> tuple[str, RecordingDeliverer]:
    """A closed case whose answer and rating request both went out by SMS."""
    number, _ = await closed_case(settings, clock, text=text)
    sms = RecordingDeliverer(Channel.SMS_MODEM)
    engine = create_engine(settings.database_url)
    try:
        outbox = OutboxDispatcher(make_sessionmaker(engine), {Channel.SMS_MODEM: sms}, clock,
                                  policy=POLICY, callback_window_days=7)
        await outbox.run_once()  # receipt, answer … → the answer's sending queues the request
        await outbox.run_once()  # … which goes out on the next pass
    finally:
        await engine.dispose()
    return number, sms


async def test_R12_1_sms_answer_asks_for_a_rating_and_a_3_opens_the_follow_up(
        settings: Settings, clock: FixedClock) -> None:
    number, sms = await _answered_and_asked(settings, clock, "五四路路灯不亮")
    kinds = [n.text for n in sms.sent]
    answer_at = next(i for i, t in enumerate(kinds) if "已办结" in t)
    request_at = next(i for i, t in enumerate(kinds) if "回复1满意" in t)
    assert answer_at < request_at and number in kinds[request_at]
    assert all(n.address == PHONE for n in sms.sent)

    engine = create_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    commands = RegistrarSmsCommands(sessions, clock, 7)
    try:
        clock.advance(timedelta(hours=3))
        assert parse_keyword("3") is None and parse_rating("３。") == 3
        taken = await commands.rate(3, PHONE, channel=Channel.SMS_MODEM, in_reply=False)
        assert taken.taken and taken.reply is None  # the modem's answer is queued instead
        again = await commands.rate(1, PHONE, channel=Channel.SMS_MODEM, in_reply=False)
        assert not again.taken  # one call-back rating per case: a second "1" is an item

        async with sessions() as s:
            case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
            rating = (await s.execute(select(CallbackRating))).scalar_one()
            assert (rating.case_id, rating.score, rating.comment) == (case.id, 1, "不满意")
            assert rating.recorded_by == "citizen:sms_modem"
            actions = list((await s.execute(select(Event.action).where(
                Event.case_id == case.id).order_by(Event.id))).scalars())
            assert actions.index("rating_requested") < actions.index("callback_rated")
            assert "callback_dissatisfied" in actions
            followup = (await s.execute(select(Notice).where(
                Notice.case_id == case.id, Notice.kind == "rating_followup"))).scalar_one()
            assert followup.address == PHONE and "复核" in followup.text
            assert [c.number for c, _ in await dissatisfied_cases(s)] == [number]

            # The ranking's satisfaction counts the call-back beside portal ratings.
            [urban] = [u for u in await unit_stats(s, clock.now() - timedelta(days=1),
                                                   clock.now() + timedelta(days=1))
                       if u.unit_code == "city-urban"]
            assert (urban.ratings, urban.callbacks, urban.callback_avg) == (0, 1, 1.0)
            assert counts(urban)["satisfaction"] == (0.0, 1)

        ctx = Context(clock=clock, due=CalendarDuePolicy(WorkingCalendar.load()))
        async with sessions.begin() as s:
            await follow_up(s, ctx, number, outcome="review", actor=CITY)
        async with sessions() as s:
            assert await dissatisfied_cases(s) == []
    finally:
        await engine.dispose()


async def test_R12_1_a_bare_digit_is_a_rating_only_from_a_number_asked_within_the_window(
        settings: Settings, clock: FixedClock) -> None:
    await _answered_and_asked(settings, clock, "小区噪音扰民")
    engine = create_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    commands = RegistrarSmsCommands(sessions, clock, 7)
    try:
        # A number never asked: the "1" is an ordinary item for the channel to register.
        assert not (await commands.rate(1, OTHER, channel=Channel.SMS_MODEM, in_reply=True)).taken
        clock.advance(timedelta(days=8))
        # The window has closed: the asked number's "1" is an item too.
        assert not (await commands.rate(1, PHONE, channel=Channel.SMS_MODEM, in_reply=True)).taken
        async with sessions() as s:
            assert (await s.execute(select(CallbackRating))).first() is None
            requests = (await s.execute(select(Notice).where(Notice.kind == REQUEST_KIND))).all()
            assert len(requests) == 1
    finally:
        await engine.dispose()


async def test_R12_1_satisfied_reply_in_reply_is_thanked_and_counts_as_satisfied(
        settings: Settings, clock: FixedClock) -> None:
    number, _ = await _answered_and_asked(settings, clock, "井盖缺失")
    assert number.startswith("FZ")
    engine = create_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    try:
        taken = await RegistrarSmsCommands(sessions, clock, 7).rate(
            parse_rating("满意") or 0, PHONE, channel=Channel.SMS_MODEM, in_reply=True)
        assert taken.taken and taken.reply is not None and "满意" in taken.reply
        async with sessions() as s:
            assert (await s.execute(select(CallbackRating.score))).scalar_one() == 5
            assert await dissatisfied_cases(s) == []
    finally:
        await engine.dispose()


async def test_R12_1_the_case_page_shows_the_call_back_rating_and_its_follow_up(
        client: TestClient[Any, Any], settings: Settings, clock: FixedClock,
        tmp_path: Path) -> None:
    desk = Desk(await make_api(client, tmp_path))
    number, _ = await _answered_and_asked(settings, clock, "公园路灯不亮")
    engine = create_engine(settings.database_url)
    try:
        taken = await RegistrarSmsCommands(make_sessionmaker(engine), clock, 7).rate(
            3, PHONE, channel=Channel.SMS_MODEM, in_reply=False)
        assert taken.taken
    finally:
        await engine.dispose()
    status, page = await desk.get("city", f"/desk/cases/{number}")
    history = section(page, "history")
    assert status == 200 and "发送回访评价短信" in history and "回访评价" in history
    assert "不满意" in history and "回访不满意，待跟进" in history and "回访评价请求" in history
    status, queue = await desk.get("city", "/desk/queue")
    assert status == 200 and number in section(queue, "section-dissatisfied")

    path = f"/cases/{number}/callback-follow-up"
    assert (await desk.api.post("urban", path, {"outcome": "redo"}))[0] == 403
    assert (await desk.api.post("city", path, {"outcome": "shrug"}))[0] == 400
    assert (await desk.api.post("city", path, {"outcome": "efficiency_office",
                                               "note": "答复未回应诉求"}))[0] == 200
    assert (await desk.api.post("city", path, {"outcome": "review"}))[0] == 409
    _, queue = await desk.get("city", "/desk/queue")
    assert 'id="section-dissatisfied"' not in queue
    _, page = await desk.get("city", f"/desk/cases/{number}")
    assert "回访不满意已跟进" in section(page, "history") and "答复未回应诉求" in page


async def test_R12_1_twilio_rating_reply_is_answered_in_the_twiml_and_recorded(
        settings: Settings, clock: FixedClock) -> None:
    """Through the Twilio SMS handling with the real commands: the thanks goes back in the
    webhook's answer and is recorded as sent in reply; the same digit replayed is skipped."""
    number, _ = await _answered_and_asked(settings, clock, "人行道破损")
    engine = create_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    commands = RegistrarSmsCommands(sessions, clock, 7)

    async def no_sink(envelope: Envelope) -> Receipt:
        raise AssertionError("a rating reply is no item")

    sms = InboundSms(sid="SM" + "b" * 32, sender_raw=PHONE, to="+8659112345000", body="2",
                     received_at=clock.now())
    try:
        outcome = await process(sms, sink=no_sink, commands=commands, media=cast(Any, None))
        assert outcome.kind == Kind.COMMAND and outcome.reply is not None
        assert number in outcome.reply and "基本满意" in outcome.reply
        replayed = await process(sms, sink=no_sink, commands=commands, media=cast(Any, None),
                                 replay=True)
        assert replayed.kind == Kind.SKIPPED
        async with sessions() as s:
            assert (await s.execute(select(CallbackRating.score))).scalar_one() == 4
            thanks = (await s.execute(select(Notice).where(
                Notice.kind == "rating_thanks"))).scalar_one()
            assert (thanks.status, thanks.channel) == ("sent", Channel.SMS_TWILIO)
    finally:
        await engine.dispose()


def test_R12_1_rating_replies_parse_strictly() -> None:
    assert [parse_rating(t) for t in ("1", " 2 ", "３", "不满意", "基本滿意", "满意！")] == [
        1, 2, 3, 3, 2, 1]
    assert [parse_rating(t) for t in ("4", "12", "1 路灯", "满意度", "")] == [None] * 5
    assert parse_keyword("1") is None  # the keyword parser stays strict
