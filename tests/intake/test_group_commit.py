"""Group commit: concurrent intakes share one commit, acknowledged only after it (invariant 1).

Commits are counted on the engine (SQLAlchemy's ``commit`` event), never timed:
items handed over in the same loop tick are queued before the drain task runs,
so how they are batched is decided by ``batch_max_items`` alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from contract.clock import FixedClock
from contract.envelope import Channel, Envelope, Receipt, TryLater
from intake.service import IntakeService
from registrar.attachments import AttachmentStore
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Assignment, Case, CaseSequence, Event, Notice
from registrar.numbers import format_number
from tests.conftest import TZ


def envelope(external_id: str, text: str = "鼓楼区路灯不亮") -> Envelope:
    return Envelope(channel=Channel.SMS_MODEM, external_id=external_id,
                    received_at=datetime(2026, 11, 24, 9, 58, tzinfo=TZ), text=text,
                    sender="+8613905910001", reply_address="+8613905910001")


def service(engine: AsyncEngine, clock: FixedClock, tmp_path: Path, **options: Any) -> IntakeService:
    return IntakeService(make_sessionmaker(engine), clock, AttachmentStore(tmp_path / "files"),
                         "FZ12345", **options)


@pytest.fixture
def commits(engine: AsyncEngine) -> Iterator[list[str]]:
    """One entry per transaction committed on ``engine``."""
    log: list[str] = []

    def on_commit(_connection: Any) -> None:
        log.append("commit")

    event.listen(engine.sync_engine, "commit", on_commit)
    yield log
    event.remove(engine.sync_engine, "commit", on_commit)


async def count(engine: AsyncEngine, model: type[Any]) -> int:
    async with make_sessionmaker(engine)() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


def numbers(n: int) -> list[str]:
    return [f"FZ12345-20261124-{i:06d}" for i in range(1, n + 1)]


async def test_concurrent_intakes_share_one_commit(engine: AsyncEngine, clock: FixedClock,
                                                   tmp_path: Path, commits: list[str]) -> None:
    intake = service(engine, clock, tmp_path)
    receipts = await asyncio.gather(*(intake(envelope(f"SM{i:02d}")) for i in range(20)))
    assert commits == ["commit"]
    assert [r.case_number for r in receipts] == numbers(20)
    assert (intake.committer.stats.batches, intake.committer.stats.largest) == (1, 20)
    assert await count(engine, Event) == 40 and await count(engine, Notice) == 20


async def test_each_item_is_acknowledged_only_after_the_shared_commit(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path, commits: list[str]) -> None:
    intake = service(engine, clock, tmp_path)

    async def channel(env: Envelope) -> Receipt:
        receipt = await intake(env)
        commits.append("ack")
        return receipt

    await asyncio.gather(*(channel(envelope(f"SM{i}")) for i in range(5)))
    assert commits == ["commit"] + ["ack"] * 5


async def test_a_failing_shared_commit_acknowledges_none(engine: AsyncEngine, clock: FixedClock,
                                                         tmp_path: Path) -> None:
    def disk_full(_connection: Any, *_: Any) -> None:
        raise OperationalError("COMMIT", {}, OSError(28, "No space left on device"))

    def statement_disk_full(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # PostgreSQL's one-statement batch (migration 0023) commits as the statement ends:
        # its commit failing is the statement failing.
        if "register_batch(" in statement:
            disk_full(_connection)

    intake = service(engine, clock, tmp_path)
    event.listen(engine.sync_engine, "commit", disk_full)
    event.listen(engine.sync_engine, "before_cursor_execute", statement_disk_full)
    outcomes = await asyncio.gather(*(intake(envelope(f"SM{i}")) for i in range(10)),
                                    return_exceptions=True)
    event.remove(engine.sync_engine, "commit", disk_full)
    event.remove(engine.sync_engine, "before_cursor_execute", statement_disk_full)
    assert all(isinstance(o, TryLater) for o in outcomes), outcomes
    for model in (Case, Event, Notice, Assignment):
        assert await count(engine, model) == 0, model
    # The senders retry; the numbers given back are given again, gap-free.
    receipts = await asyncio.gather(*(intake(envelope(f"SM{i}")) for i in range(10)))
    assert [r.case_number for r in receipts] == numbers(10) and all(r.created for r in receipts)


async def test_one_bad_item_fails_only_itself(engine: AsyncEngine, clock: FixedClock, tmp_path: Path,
                                              commits: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import registrar.registration as registration

    real = registration._receipt_notice

    def picky(case_id: int, number: str, code: str, env: Envelope, now: datetime,
              *args: Any) -> dict[str, Any]:
        if env.text == "BAD":
            raise DBAPIError("INSERT INTO notice", {}, ValueError("refused by the database"))
        return real(case_id, number, code, env, now, *args)

    monkeypatch.setattr(registration, "_receipt_notice", picky)
    intake = service(engine, clock, tmp_path)
    outcomes = await asyncio.gather(
        *(intake(envelope(f"SM{i}", "BAD" if i == 3 else "鼓楼区路灯不亮")) for i in range(8)),
        return_exceptions=True)
    assert isinstance(outcomes[3], TryLater)
    good = [o for i, o in enumerate(outcomes) if i != 3]
    assert [o.case_number for o in good if isinstance(o, Receipt)] == numbers(7)
    # The shared transaction failed; the retry of its items one by one committed once.
    assert commits == ["commit"] and intake.committer.stats.retried_batches == 1
    assert await count(engine, Case) == 7 and await count(engine, Notice) == 7


async def test_a_duplicate_within_one_batch_gives_one_case(engine: AsyncEngine, clock: FixedClock,
                                                           tmp_path: Path, commits: list[str]) -> None:
    intake = service(engine, clock, tmp_path)
    receipts = await asyncio.gather(intake(envelope("A")), intake(envelope("SAME")),
                                    intake(envelope("SAME", "changed on resend")), intake(envelope("B")),
                                    intake(envelope("SAME")))
    assert commits == ["commit"]
    assert [r.case_number for r in receipts] == [numbers(3)[i] for i in (0, 1, 1, 2, 1)]
    assert [r.created for r in receipts] == [True, True, False, True, False]
    assert await count(engine, Case) == 3 and await count(engine, Notice) == 3
    # Redelivered later, in another batch: still the same case.
    again = await intake(envelope("SAME"))
    assert (again.case_number, again.created) == (numbers(2)[1], False)


@pytest.mark.parametrize(("options", "expected_commits"), [
    ({"batch_max_items": 8}, 8),    # 60 queued at once: batches of 8, 8, …, 4
    ({"batch_max_items": 8, "batch_pipeline": 2}, 8),  # two batches in flight at once
    ({"group_commit": False}, 60),  # the per-item path: one transaction each
])
async def test_50_concurrent_intakes_get_gap_free_numbers(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path, commits: list[str],
        options: dict[str, Any], expected_commits: int) -> None:
    intake = service(engine, clock, tmp_path, **options)
    ids = [f"SM{i:02d}" for i in range(50)]
    receipts = await asyncio.gather(*(intake(envelope(i)) for i in ids + ids[:10]))  # 10 resent
    assert sorted({r.case_number for r in receipts}) == numbers(50)
    assert sum(r.created for r in receipts) == 50
    assert len(commits) == expected_commits


async def test_two_processes_share_the_day_sequence_gap_free(
        engine: AsyncEngine, db_url: str, clock: FixedClock, tmp_path: Path) -> None:
    """Two services on their own engines (as two ``hotline serve`` processes would) race for numbers."""
    other_engine = create_engine(db_url)
    try:
        first = service(engine, clock, tmp_path, batch_max_items=5)
        second = service(other_engine, clock, tmp_path, batch_max_items=7)
        receipts = await asyncio.gather(*(
            (first if i % 2 else second)(envelope(f"SM{i:02d}")) for i in range(50)))
    finally:
        await other_engine.dispose()
    assert sorted(r.case_number for r in receipts) == numbers(50)
    assert await count(engine, Case) == 50


@pytest.mark.parametrize("pipeline", [1, 2])
async def test_one_item_after_another_is_each_committed_never_left_waiting(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path, pipeline: int) -> None:
    """A drainer that just finished must not be counted as running: the next item would wait
    for it for ever (a console agent logging calls one by one)."""
    intake = service(engine, clock, tmp_path, batch_pipeline=pipeline)
    for i in range(6):
        receipt = await asyncio.wait_for(intake(envelope(f"SQ{i}")), timeout=30)
        assert receipt.case_number == numbers(6)[i]


async def test_numbers_past_six_digits_read_as_format_number_writes_them(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    """PostgreSQL numbers a batch in one statement (registrar.numbers.number_cases); its
    text must be ``format_number``'s, also where six digits no longer suffice."""
    async with make_sessionmaker(engine).begin() as s:
        s.add(CaseSequence(day=clock.now().date(), last=999_998))
    intake = service(engine, clock, tmp_path)
    receipts = await asyncio.gather(*(intake(envelope(f"BIG{i}")) for i in range(3)))
    assert [r.case_number for r in receipts] == [
        format_number("FZ12345", clock.now().date(), n) for n in (999_999, 1_000_000, 1_000_001)]
    assert [r.case_number for r in receipts][1] == "FZ12345-20261124-1000000"
