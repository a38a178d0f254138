"""register(): one item → one case, in one transaction, on both databases (R5.1, R5.2)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from contract.clock import FixedClock
from contract.envelope import Attachment, Channel, Envelope, TryLater
from intake.service import IntakeService
from registrar.attachments import AttachmentStore
from registrar.db import make_sessionmaker
from registrar.models import (
    Assignment,
    AssignmentState,
    AttachmentRecord,
    Case,
    Contact,
    Event,
    Notice,
    NoticeStatus,
    Unit,
)
from registrar.registration import register
from tests.conftest import TZ

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def envelope(external_id: str = "SM1", *, channel: Channel = Channel.SMS_TWILIO,
             text: str = "台江区八一七路井盖缺失，很危险", sender: str = "+8613905910001",
             attachments: tuple[Attachment, ...] = ()) -> Envelope:
    return Envelope(channel=channel, external_id=external_id,
                    received_at=datetime(2026, 11, 24, 9, 58, tzinfo=TZ), text=text,
                    sender=sender, reply_address=sender, attachments=attachments)


async def test_R5_1_item_becomes_one_registered_record(session: AsyncSession, clock: FixedClock,
                                                       tmp_path: Path) -> None:
    result = await register(session, envelope(), clock=clock, store=AttachmentStore(tmp_path))
    case = result.case
    assert result.created
    assert case.number == "FZ12345-20261124-000001"
    assert case.text == "台江区八一七路井盖缺失，很危险"
    assert case.channel == "sms_twilio" and case.external_id == "SM1"
    assert case.registered_at == clock.now()
    assert len(case.query_code) == 8
    actions = (await session.execute(
        select(Event.action).where(Event.case_id == case.id).order_by(Event.id))).scalars().all()
    assert actions == ["registered", "forwarded_to_city_bureau"]
    contact = await session.get(Contact, case.contact_id)
    assert contact is not None and (contact.kind, contact.address) == ("phone", "+8613905910001")


async def test_R5_2_case_is_in_city_bureau_queue_the_same_day(
        session: AsyncSession, clock: FixedClock, tmp_path: Path) -> None:
    case = (await register(session, envelope(), clock=clock,
                           store=AttachmentStore(tmp_path))).case
    rows = (await session.execute(
        select(Assignment, Unit).join(Unit, Unit.id == Assignment.unit_id)
        .where(Assignment.case_id == case.id))).all()
    assert [(u.kind, a.state, a.created_at) for a, u in rows] == [
        ("city_bureau", AssignmentState.QUEUED, clock.now())]


async def test_receipt_notice_goes_to_the_original_channel(session: AsyncSession,
                                                           clock: FixedClock,
                                                           tmp_path: Path) -> None:
    case = (await register(session, envelope(), clock=clock,
                           store=AttachmentStore(tmp_path))).case
    notice = (await session.execute(select(Notice).where(Notice.case_id == case.id))).scalar_one()
    assert (notice.kind, notice.channel, notice.address, notice.status) == (
        "receipt", "sms_twilio", "+8613905910001", NoticeStatus.PENDING)
    assert case.number in notice.text and case.query_code in notice.text


async def test_receipt_without_reply_address_is_recorded_as_failed(
        session: AsyncSession, clock: FixedClock, tmp_path: Path) -> None:
    env = Envelope(channel=Channel.FAX, external_id="<fax-1@gw>", received_at=clock.now(),
                   text="[传真 1 页]")
    case = (await register(session, env, clock=clock, store=AttachmentStore(tmp_path))).case
    notice = (await session.execute(select(Notice).where(Notice.case_id == case.id))).scalar_one()
    assert notice.status == NoticeStatus.FAILED and "no reply address" in (notice.last_error or "")


async def test_redelivery_returns_the_first_case(session: AsyncSession, clock: FixedClock,
                                                 tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path)
    first = await register(session, envelope(), clock=clock, store=store)
    again = await register(session, envelope(text="changed on retry"), clock=clock, store=store)
    assert not again.created
    assert again.case.id == first.case.id and again.case.text == first.case.text
    assert await session.scalar(select(func.count()).select_from(Case)) == 1
    assert await session.scalar(select(func.count()).select_from(Notice)) == 1


async def test_same_external_id_on_another_channel_is_another_item(
        session: AsyncSession, clock: FixedClock, tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path)
    a = await register(session, envelope(), clock=clock, store=store)
    b = await register(session, envelope(channel=Channel.SMS_MODEM), clock=clock, store=store)
    assert b.created and a.case.number != b.case.number


async def test_unique_constraint_holds_even_without_the_lookup(
        session: AsyncSession, clock: FixedClock, tmp_path: Path) -> None:
    case = (await register(session, envelope(), clock=clock,
                           store=AttachmentStore(tmp_path))).case
    clone = Case(number="X-1", query_code="Q", channel=case.channel,
                 external_id=case.external_id, received_at=case.received_at,
                 registered_at=case.registered_at, text="t", language="zh-Hans",
                 public_allowed=True, notes=[])
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            session.add(clone)
            await session.flush()


async def test_numbers_follow_the_local_day(session: AsyncSession, tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path)
    late = FixedClock(datetime(2026, 11, 24, 23, 59, tzinfo=TZ))
    a = await register(session, envelope("a"), clock=late, store=store)
    late.advance(timedelta(minutes=2))  # 00:01 on the 25th in Fuzhou, still the 24th in UTC
    b = await register(session, envelope("b"), clock=late, store=store)
    c = await register(session, envelope("c"), clock=late, store=store)
    assert [a.case.number, b.case.number, c.case.number] == [
        "FZ12345-20261124-000001", "FZ12345-20261125-000001", "FZ12345-20261125-000002"]


async def test_attachments_are_content_addressed_and_on_disk(
        session: AsyncSession, clock: FixedClock, tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path)
    photo = Attachment("井盖.png", "image/png", PNG)
    case = (await register(session, envelope(attachments=(photo, photo)), clock=clock,
                           store=store)).case
    rows = (await session.execute(select(AttachmentRecord).where(
        AttachmentRecord.case_id == case.id))).scalars().all()
    digest = hashlib.sha256(PNG).hexdigest()
    assert [(r.filename, r.sha256, r.size) for r in rows] == [("井盖.png", digest, len(PNG))] * 2
    assert store.path_for(digest).read_bytes() == PNG
    assert not list(store.path_for(digest).parent.glob(".incoming-*"))


async def test_event_log_is_append_only(session: AsyncSession, clock: FixedClock,
                                        tmp_path: Path) -> None:
    await register(session, envelope(), clock=clock, store=AttachmentStore(tmp_path))
    with pytest.raises(DBAPIError, match="append-only"):
        async with session.begin_nested():
            await session.execute(text("UPDATE event SET actor = 'someone else'"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with session.begin_nested():
            await session.execute(text("DELETE FROM event"))


# --- through the intake service: real commits on a database of the test's own ---


def service(engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> IntakeService:
    return IntakeService(make_sessionmaker(engine), clock, AttachmentStore(tmp_path / "files"),
                         "FZ12345")


async def test_50_concurrent_registrations_get_gap_free_distinct_numbers(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    intake = service(engine, clock, tmp_path)
    receipts = await asyncio.gather(*(intake(envelope(f"SM{i:03d}")) for i in range(50)))
    numbers = sorted(r.case_number for r in receipts)
    assert numbers == [f"FZ12345-20261124-{i:06d}" for i in range(1, 51)]
    assert all(r.created for r in receipts)


async def test_concurrent_redeliveries_of_one_item_make_one_case(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    intake = service(engine, clock, tmp_path)
    receipts = await asyncio.gather(*(intake(envelope("SAME")) for _ in range(10)))
    assert {r.case_number for r in receipts} == {"FZ12345-20261124-000001"}
    assert sum(r.created for r in receipts) == 1
    async with make_sessionmaker(engine)() as s:
        assert await s.scalar(select(func.count()).select_from(Case)) == 1
        assert await s.scalar(select(func.count()).select_from(Notice)) == 1
    # The number given back by the losers is not skipped by the next item.
    nxt = await intake(envelope("NEXT"))
    assert nxt.case_number == "FZ12345-20261124-000002"


async def test_a_failure_midway_leaves_nothing_behind(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import registrar.registration as registration

    def broken(*args: object, **kwargs: object) -> Notice:
        raise DBAPIError("INSERT INTO notice", {}, ConnectionResetError("server closed"))

    monkeypatch.setattr(registration, "_receipt_notice", broken)
    intake = service(engine, clock, tmp_path)
    with pytest.raises(TryLater):
        await intake(envelope("LOST?"))
    monkeypatch.undo()
    async with make_sessionmaker(engine)() as s:
        for model in (Case, Event, Notice, Assignment, Contact):
            assert await s.scalar(select(func.count()).select_from(model)) == 0, model
    # The sender retries and the item is registered with the first number of the day.
    receipt = await intake(envelope("LOST?"))
    assert receipt.created and receipt.case_number.endswith("-000001")


async def test_store_unreachable_raises_try_later(clock: FixedClock, tmp_path: Path) -> None:
    from registrar.db import create_engine

    for url in ("postgresql+asyncpg://postgres@127.0.0.1:1/none",
                f"sqlite+aiosqlite:///{tmp_path}/is-a-dir"):
        (tmp_path / "is-a-dir").mkdir(exist_ok=True)
        eng = create_engine(url)
        try:
            with pytest.raises(TryLater):
                await service(eng, clock, tmp_path)(envelope())
        finally:
            await eng.dispose()


async def test_every_contact_the_citizen_left_is_kept_in_order(
        session: AsyncSession, clock: FixedClock, tmp_path: Path) -> None:
    from registrar.models import CaseContact

    env = Envelope(channel=Channel.WEB, external_id="form-1", received_at=clock.now(),
                   text="小区电梯停运", sender="+8613805912345", reply_address="+8613805912345",
                   alt_reply_addresses=("citizen@example.cn",))
    case = (await register(session, env, clock=clock, store=AttachmentStore(tmp_path))).case
    rows = (await session.execute(
        select(Contact.kind, Contact.address).join(CaseContact, CaseContact.contact_id == Contact.id)
        .where(CaseContact.case_id == case.id).order_by(CaseContact.rank))).all()
    assert [tuple(r) for r in rows] == [("phone", "+8613805912345"), ("email", "citizen@example.cn")]
