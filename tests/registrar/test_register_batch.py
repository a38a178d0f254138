"""PostgreSQL's ``register_batch`` (migration 0023) writes exactly the rows of the Python path.

The same batch is registered twice in the same database, once by each path, each in a
transaction rolled back afterwards, so both start from the same state (an item and a
contact stored before) and take the same case numbers. The ids differ (sequences are
not rolled back), so rows are compared with every id replaced by its rank.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from contract.clock import FixedClock
from contract.envelope import Attachment, Channel, Envelope
from forwarder.calendar import WorkingCalendar
from forwarder.due import CalendarDuePolicy
from intake.service import IntakeService
from registrar.attachments import AttachmentStore
from registrar.db import make_sessionmaker
from registrar.models import Case
from registrar.registration import (
    EmergencyAdvice,
    Item,
    Registered,
    bureau_ref,
    register_many,
    server_function,
)
from tests.conftest import TZ

TABLES = ("contact", "case", "case_contact", "attachment", "assignment", "deadline", "event",
          "notice", "case_sequence")
REFERENCES = {"case_id": "case", "parent_case_id": "case", "contact_id": "contact",
              "assignment_id": "assignment"}


def _envelope(external_id: str, channel: Channel = Channel.WEB, **fields: Any) -> Envelope:
    values: dict[str, Any] = {"text": "小区门口路灯不亮", "sender": "+8613800000001",
                              "reply_address": "+8613800000001"} | fields
    return Envelope(channel=channel, external_id=external_id,
                    received_at=datetime(2026, 11, 24, 9, 58, 12, 345678, tzinfo=TZ), **values)


def batch() -> list[Item | Envelope]:
    png = Attachment("photo.png", "image/png", b"\x89PNG" + b"\x00" * 32)
    fire = EmergencyAdvice("119", "如遇火情请立即拨打119")
    return [
        _envelope("web-1", alt_reply_addresses=("a@example.cn",), attachments=(png,),
                  display_name="张三", notes=("来自网页", "category=城管")),
        Item(_envelope("sms-1", Channel.SMS_TWILIO, sender="+8613900000002",
                       reply_address="+8613900000002"), (), fire),
        _envelope("old-1"),  # stored before the batch
        _envelope("phone-1", Channel.PHONE, reply_address="", sender="+8613700000003"),
        _envelope("web-1"),  # repeated within the batch
        _envelope("phone-2", Channel.PHONE, sender="+8613700000004", reply_address="+8613700000004",
                  language="zh-Hant", public_allowed=True),
        # 答复方式: a new mobile that chose calls, the stored contact changing its choice,
        # a landline (its receipt is a call on the voice channel, never an SMS).
        _envelope("web-call", sender="+8613600000005", reply_address="+8613600000005",
                  reply_by_call=True),
        _envelope("web-choice", reply_by_call=True),
        _envelope("phone-landline", Channel.PHONE, sender="+862787654321",
                  reply_address="+862787654321"),
    ]


def _item(value: Item | Envelope, digest: str) -> Item:
    if isinstance(value, Item):
        return value
    return Item(value, tuple(digest for _ in value.attachments))


async def _register(session: AsyncSession, clock: FixedClock, *, in_server: bool) -> list[Registered]:
    items = [_item(value, "ab" * 32) for value in batch()]
    return await register_many(session, items, clock=clock, prefix="FZ12345",
                               bureau=await bureau_ref(session),
                               due=CalendarDuePolicy(WorkingCalendar.load()), dispatch_days=1,
                               voice_channel="phone", in_server=in_server)


async def _dump(session: AsyncSession) -> dict[str, list[dict[str, Any]]]:
    """Every row of the registration's tables, ids replaced by their rank in their table."""
    raw = {table: [dict(row) for row in (await session.execute(
        text(f'SELECT * FROM "{table}"'))).mappings()] for table in TABLES}
    ranks = {table: {row["id"]: rank for rank, row in enumerate(sorted(raw[table], key=lambda r: r["id"]))}
             for table in ("contact", "case", "assignment")}
    dumped: dict[str, list[dict[str, Any]]] = {}
    for table, rows in raw.items():
        out = []
        for row in rows:
            row = dict(row)
            if "id" in row and table in ranks:
                row["id"] = ranks[table][row["id"]]
            else:
                row.pop("id", None)
            for column, target in REFERENCES.items():
                if row.get(column) is not None:
                    row[column] = ranks[target][row[column]]
            if table == "event" and isinstance(row["data"], dict) and "assignment" in row["data"]:
                row["data"] = row["data"] | {"assignment": ranks["assignment"][row["data"]["assignment"]]}
            out.append(row)
        dumped[table] = sorted(out, key=repr)
    return dumped


async def _json_texts(session: AsyncSession) -> list[list[str | None]]:
    """The stored text of each json column, sorted (ids differ between the two paths)."""
    columns = (('"case"', "notes"), ("notice", "template_values"), ("event", "data"))
    found = [(await session.execute(text(f"SELECT CAST({column} AS TEXT) FROM {table}")))
             .scalars().all() for table, column in columns]
    return [sorted((None if value is None else re.sub(r'"assignment": \d+', '"assignment": N', value)
                    for value in values), key=repr) for values in found]


async def test_register_batch_writes_the_rows_of_the_python_path(
        engine: AsyncEngine, backend: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = make_sessionmaker(engine)
    async with sessions.begin() as session:
        assert await server_function(session) is (backend == "postgresql")
        await register_many(session, [Item(_envelope("old-1"))], clock=clock, prefix="FZ12345",
                            bureau=await bureau_ref(session))
    results: dict[bool, tuple[list[tuple[str, bool]], dict[str, list[dict[str, Any]]]]] = {}
    texts: dict[bool, list[list[str | None]]] = {}
    for in_server in (False, True):
        codes = itertools.count()
        monkeypatch.setattr("registrar.registration.new_query_code",
                            lambda codes=codes: f"Q{next(codes):07d}")
        async with sessions() as session, session.begin() as transaction:
            done = await _register(session, clock, in_server=in_server)
            results[in_server] = ([(r.number, r.created) for r in done], await _dump(session))
            texts[in_server] = await _json_texts(session)
            await transaction.rollback()
    (python_numbers, python_rows), (server_numbers, server_rows) = results[False], results[True]
    python_texts, server_texts = texts[False], texts[True]
    assert python_numbers == server_numbers
    assert [created for _, created in server_numbers] == [True, True, False, True, False, True,
                                                          True, True, True]
    assert server_numbers[4][0] == server_numbers[0][0]
    for table in TABLES:
        assert server_rows[table] == python_rows[table], table
    # json columns keep their text, and searches match it (the Open311 category filter LIKEs
    # the notes' text): the same bytes from both paths, not only the same parsed values.
    assert server_texts == python_texts
    assert len(python_rows["case"]) == 8 and len(python_rows["event"]) == 16
    choices = {row["address"]: bool(row["prefers_call"]) for row in python_rows["contact"]}
    assert choices["+8613600000005"] is True and choices["+8613800000001"] is True
    assert {row["channel"] for row in python_rows["notice"]
            if row["address"] == "+862787654321"} == {"phone"}


async def test_register_batch_hands_back_whole_case_rows(
        engine: AsyncEngine, clock: FixedClock) -> None:
    """``register()`` builds its loaded ``Case`` from the row handed back: it must be the stored one."""
    async with make_sessionmaker(engine).begin() as session:
        done = await _register(session, clock, in_server=True)
    async with make_sessionmaker(engine)() as session:
        for outcome in done:
            if outcome.row is None:
                continue
            stored = await session.get(Case, outcome.case_id)
            assert stored is not None
            for key, value in outcome.row.items():
                assert value == getattr(stored, key), key
        assert (await session.execute(select(Case.number).order_by(Case.id))).scalars().all() == [
            f"FZ12345-20261124-{n:06d}" for n in range(1, 9)]



async def test_a_postgresql_batch_is_one_statement_in_autocommit(
        engine: AsyncEngine, backend: str, clock: FixedClock, tmp_path: Path) -> None:
    """Group commit on PostgreSQL: one ``register_batch`` statement per batch, its own transaction;
    SQLite keeps one transaction around the Python path's statements."""
    intake = IntakeService(make_sessionmaker(engine), clock, AttachmentStore(tmp_path), "FZ12345")
    await intake(_envelope("warm-up"))  # the bureau and the function looked up once
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    receipts = await asyncio.gather(*(intake(_envelope(f"web-{n}")) for n in range(20)))
    batches = intake.committer.stats.batches - 1
    assert sorted(r.case_number for r in receipts) == [
        f"FZ12345-20261124-{n:06d}" for n in range(2, 22)]
    if backend == "postgresql":
        assert len(statements) == batches and all("register_batch" in s for s in statements)
        assert intake._one_statement is not None
    else:
        assert len(statements) > batches and intake._one_statement is None
