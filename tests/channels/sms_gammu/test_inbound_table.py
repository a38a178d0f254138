"""Every recorded situation through one harness: dummy phone in, envelopes and replies out.

Each case names a fixture folder (SMS-backup files as the network delivered
them) and what must come of it. The harness adds the checks every case
shares: the phone is empty afterwards, and reading it again registers nothing
new (a re-read never makes a second case).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from channels.sms_gammu.adapter import GammuSmsChannel
from contract.envelope import Channel

from .conftest import FakeCommands, FakeSink, Script, inbox_files, load_fixture
from .make_fixtures import GSM7_LONG, LONG_3, TEN

CITIZEN = "+8613800138000"


@dataclass(frozen=True)
class Case:
    label: str
    fixture: str
    items: int = 0
    text: str | None = None
    text_contains: tuple[str, ...] = ()
    sender: str | None = CITIZEN
    notes_contain: tuple[str, ...] = ()
    queries: tuple[tuple[str, str], ...] = ()
    unsubscribed: tuple[str, ...] = ()
    queued_contains: str | None = None
    """Left to the outbox by the commands (every answer, help included): the modem itself
    never sends anything."""
    discarded: int = 0
    extra: dict[str, object] = field(default_factory=dict)


CASES = [
    Case("single Chinese SMS is one item", "single_chinese", items=1,
         text="鼓楼区五四路路灯坏了，请尽快维修。"),
    Case("three UCS-2 parts are joined", "multipart_chinese_3_parts", items=1, text=LONG_3),
    Case("parts delivered out of order are joined in order", "multipart_out_of_order",
         items=1, text=LONG_3),
    Case("7-bit GSM parts are joined", "multipart_gsm7_2_parts", items=1, text=GSM7_LONG),
    Case("ten concatenated parts are one item", "ten_parts_chinese", items=1, text=TEN),
    Case("incomplete message waits on disk, off the SIM", "multipart_missing_middle"),
    Case("whitespace-only SMS is deleted, not registered", "whitespace_only", discarded=1),
    Case("empty SMS is deleted, not registered", "empty", discarded=1),
    Case("invalid UCS-2 is decoded as far as possible", "invalid_ucs2", items=1,
         text_contains=("路灯", "坏", "A"), notes_contain=("无法解码",)),
    Case("alphanumeric sender is registered without a reply address", "alphanumeric_sender",
         items=1, sender=None, notes_contain=("'ICBC'",)),
    Case("short-code sender is registered without a reply address", "short_code_sender",
         items=1, sender=None, notes_contain=("'10086'",)),
    Case("sender in a strange format is normalised to E.164", "strange_number_format",
         items=1, text="台江区菜市场占道经营"),
    Case("CX asks for a case's status", "keyword_query",
         queries=(("FZ12345-20261124-000017", CITIZEN),), queued_contains="正在办理"),
    Case("full-width CX works", "keyword_query_fullwidth",
         queries=(("FZ12345-20261124-000001", CITIZEN),), queued_contains="正在办理"),
    Case("查询 with a colon asks for a case's status", "keyword_query_chinese",
         queries=(("FZ12345-20261124-000017", CITIZEN),), queued_contains="正在办理"),
    Case("查询 without a number gets the usage help, through the outbox",
         "keyword_query_without_number", queued_contains="CX 受理编号"),
    Case("退订 unsubscribes the sender", "keyword_unsubscribe", unsubscribed=(CITIZEN,),
         queued_contains="已退订"),
    Case("td in lower case unsubscribes", "keyword_unsubscribe_td", unsubscribed=(CITIZEN,),
         queued_contains="已退订"),
    Case("keyword from an unanswerable sender is an item", "keyword_from_alphanumeric_sender",
         items=1, sender=None, text="TD"),
    Case("查询 followed by words is an item", "query_words_are_an_item", items=1,
         text="查询一下社保怎么交"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_recorded_situation(case: Case, channel: GammuSmsChannel, phone: Path,
                                  sink: FakeSink, commands: FakeCommands,
                                  script: Script) -> None:
    load_fixture(case.fixture, phone)

    report = await channel.poll_once()

    assert len(sink.envelopes) == case.items
    assert report.registered == case.items
    assert report.discarded == case.discarded
    for envelope in sink.envelopes:
        assert envelope.channel is Channel.SMS_MODEM
        assert envelope.sender == case.sender
        assert envelope.reply_address == case.sender
        if case.text is not None:
            assert envelope.text == case.text
        for fragment in case.text_contains:
            assert fragment in envelope.text
        for fragment in case.notes_contain:
            assert any(fragment in note for note in envelope.notes), envelope.notes
    assert commands.queries == list(case.queries)
    assert commands.unsubscribed == list(case.unsubscribed)
    if case.queued_contains is None:
        assert commands.queued == []
    else:
        assert [(c, a) for c, a, _ in commands.queued] == [(Channel.SMS_MODEM, CITIZEN)]
        assert case.queued_contains in commands.queued[0][2]
    assert script.sent == []  # item 17: no keyword answer bypasses the outbox
    # Common to every situation: nothing left on the phone, and a second read
    # (as after a crash) registers nothing new.
    assert inbox_files(phone) == []
    load_fixture(case.fixture, phone)
    await channel.poll_once()
    assert len(sink.cases) == case.items


async def test_external_id_is_sender_smsc_time_and_reference(
        channel: GammuSmsChannel, phone: Path, sink: FakeSink) -> None:
    load_fixture("multipart_chinese_3_parts", phone)
    load_fixture("single_chinese", phone)

    await channel.poll_once()

    ids = sorted(e.external_id for e in sink.envelopes)
    assert len(ids) == 2
    assert all(i.startswith(f"{CITIZEN}|2026-11-24T01:30:00+00:00|") for i in ids)
    assert any(i.rsplit("|", 1)[1].startswith("c") and i.endswith("/3") for i in ids)
    assert any(i.rsplit("|", 1)[1].startswith("s") for i in ids)
