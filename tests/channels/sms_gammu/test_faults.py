"""Faults on the way in: a store that is down, a modem that vanishes, parts that never come.

Each test ends by counting cases and what is left on the phone: no message
lost, none registered twice (invariants 1 and 2).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import gammu
import pytest

from channels.sms_gammu.adapter import GammuSmsChannel, gammu_sms_channel
from channels.sms_gammu.demo import write_incoming_sms
from channels.sms_gammu.modem import ModemUnavailable
from channels.sms_gammu.settings import GammuSettings
from contract.envelope import Envelope, Receipt

from .conftest import (
    Clock,
    FakeCommands,
    FakeSink,
    Script,
    inbox_files,
    load_fixture,
    port_factory,
    stored_groups,
)
from .make_fixtures import LONG_3

CITIZEN = "+8613800138000"


def _gsm_error(cls: type[gammu.GSMError], where: str) -> gammu.GSMError:
    return cls({"Text": "injected", "Where": where, "Code": 0})


async def test_store_down_keeps_every_sms_on_the_phone_until_it_recovers(
        channel: GammuSmsChannel, phone: Path, sink: FakeSink) -> None:
    load_fixture("single_chinese", phone)
    load_fixture("multipart_chinese_3_parts", phone)
    write_incoming_sms(phone, "+8613900139000", "仓山区噪音扰民")
    sink.down = True

    first = await channel.poll_once()
    second = await channel.poll_once()

    assert first.deferred == 1 and second.deferred == 1
    assert len(inbox_files(phone)) == 5
    assert sink.cases == {}

    sink.down = False
    recovered = await channel.poll_once()

    assert recovered.registered == 3
    assert len(sink.cases) == 3
    assert inbox_files(phone) == []


async def test_sms_is_deleted_only_after_commit_and_a_reread_after_a_crash_is_no_new_case(
        channel: GammuSmsChannel, phone: Path, sink: FakeSink, script: Script) -> None:
    load_fixture("single_chinese", phone)
    script.faults["delete"] = [_gsm_error(gammu.ERR_DEVICEWRITEERROR, "DeleteSMS")]

    with pytest.raises(ModemUnavailable):
        await channel.poll_once()
    assert len(sink.cases) == 1
    assert inbox_files(phone) == ["1"]  # committed but not yet deleted

    report = await channel.poll_once()

    assert sink.calls == 2  # asked again, answered "already registered"
    assert len(sink.cases) == 1
    assert report.registered == 1
    assert inbox_files(phone) == []


async def test_multipart_handled_before_a_crash_is_not_filed_again_from_leftover_parts(
        channel: GammuSmsChannel, phone: Path, sink: FakeSink, script: Script,
        clock: Clock) -> None:
    load_fixture("multipart_chinese_3_parts", phone)
    # The first part's delete succeeds, the modem dies on the second.
    script.faults["delete"] = [None, _gsm_error(gammu.ERR_DEVICEREADERROR, "DeleteSMS")]

    with pytest.raises(ModemUnavailable):
        await channel.poll_once()
    assert len(sink.cases) == 1
    assert len(inbox_files(phone)) == 2

    clock.advance(2 * 3600)  # long past the parts timeout
    await channel.poll_once()

    assert sink.calls == 1
    assert inbox_files(phone) == []
    assert stored_groups(channel) == []


async def test_modem_vanishing_mid_read_is_reopened_and_nothing_is_lost(
        channel: GammuSmsChannel, phone: Path, sink: FakeSink, script: Script) -> None:
    load_fixture("multipart_chinese_3_parts", phone)
    script.faults["read"] = [_gsm_error(gammu.ERR_DEVICEREADERROR, "GetNextSMS")]

    with pytest.raises(ModemUnavailable):
        await channel.poll_once()
    assert sink.calls == 0
    assert script.opened == 1

    report = await channel.poll_once()

    assert script.opened == 2  # a fresh StateMachine, the failed one dropped
    assert report.registered == 1
    assert [e.text for e in sink.envelopes] == [LONG_3]
    assert inbox_files(phone) == []


async def test_device_that_disappears_is_retried_after_the_delay_and_read_when_back(
        settings: GammuSettings, sink: FakeSink, commands: FakeCommands, clock: Clock,
        script: Script, phone: Path) -> None:
    settings = settings.model_copy(update={"reconnect_delay_s": 30})
    async with gammu_sms_channel(settings, sink, commands,
                                 port_factory=port_factory(settings, script), now=clock.now,
                                 monotonic=clock.monotonic, sleep=clock.sleep,
                                 poll=False) as channel:
        shutil.rmtree(phone)  # unplugged before the first open
        with pytest.raises(ModemUnavailable):
            await channel.poll_once()
        write_incoming_sms(phone, CITIZEN, "晋安区供水中断")
        with pytest.raises(ModemUnavailable, match="waiting"):
            await channel.poll_once()  # within the reconnect delay: fail fast
        assert script.opened == 1

        clock.advance(31)
        report = await channel.poll_once()

    assert report.registered == 1
    assert [e.text for e in sink.envelopes] == ["晋安区供水中断"]
    assert inbox_files(phone) == []


async def test_unexpected_sink_error_keeps_that_sms_and_handles_the_rest(
        channel: GammuSmsChannel, phone: Path, sink: FakeSink) -> None:
    write_incoming_sms(phone, CITIZEN, "第一条：毒性测试")
    write_incoming_sms(phone, "+8613900139000", "第二条：正常内容")
    sink.broken_on = "毒性"

    report = await channel.poll_once()

    assert report.failed == 1 and report.registered == 1
    assert [e.text for e in sink.envelopes] == ["第二条：正常内容"]
    assert inbox_files(phone) == ["1"]


async def test_missing_part_waits_in_the_store_and_completes_when_it_arrives(
        channel: GammuSmsChannel, phone: Path, sink: FakeSink) -> None:
    load_fixture("multipart_chinese_3_parts", phone, only=["1", "3"])

    report = await channel.poll_once()

    assert report.waiting == 1
    assert sink.calls == 0
    assert inbox_files(phone) == []  # moved off the small SIM store, onto disk
    assert len(stored_groups(channel)) == 1

    load_fixture("multipart_chinese_3_parts", phone, only=["2"])
    report = await channel.poll_once()

    assert report.registered == 1
    assert [e.text for e in sink.envelopes] == [LONG_3]
    assert sink.envelopes[0].notes == ("短信中心时间 2026-11-24T01:30:00+00:00 (SMSC timestamp)",)
    assert stored_groups(channel) == []


async def test_parts_that_never_come_are_registered_after_the_timeout_with_a_note(
        channel: GammuSmsChannel, phone: Path, sink: FakeSink, clock: Clock) -> None:
    load_fixture("multipart_chinese_3_parts", phone, only=["1", "3"])
    await channel.poll_once()
    clock.advance(3599)
    assert (await channel.poll_once()).waiting == 1

    clock.advance(1)
    report = await channel.poll_once()

    assert report.registered == 1
    (envelope,) = sink.envelopes
    assert "[第2/3条未收到]" in envelope.text
    assert envelope.text.startswith(LONG_3[:67]) and envelope.text.endswith(LONG_3[134:])
    assert any("第 2 条超时未收到" in n for n in envelope.notes)

    # The straggler turns up later, waits its own timeout, and becomes its own
    # item: not mistaken for a redelivery of the first.
    load_fixture("multipart_chinese_3_parts", phone, only=["2"])
    assert (await channel.poll_once()).waiting == 1
    clock.advance(3600)
    await channel.poll_once()

    assert len(sink.cases) == 2
    assert sink.envelopes[1].text == f"[第1/3条未收到]{LONG_3[67:134]}[第3/3条未收到]"
    assert inbox_files(phone) == []


async def test_waiting_parts_survive_a_restart_of_the_service(
        settings: GammuSettings, sink: FakeSink, commands: FakeCommands, clock: Clock,
        script: Script, phone: Path) -> None:
    load_fixture("ten_parts_chinese", phone, only=[str(n) for n in range(1, 10)])
    async with gammu_sms_channel(settings, sink, commands,
                                 port_factory=port_factory(settings, script), now=clock.now,
                                 monotonic=clock.monotonic, sleep=clock.sleep,
                                 poll=False) as first:
        assert (await first.poll_once()).waiting == 1
    assert inbox_files(phone) == []

    load_fixture("ten_parts_chinese", phone, only=["10"])
    async with gammu_sms_channel(settings, sink, commands,
                                 port_factory=port_factory(settings, script), now=clock.now,
                                 monotonic=clock.monotonic, sleep=clock.sleep,
                                 poll=False) as second:
        report = await second.poll_once()

    assert report.registered == 1
    assert len(sink.envelopes[0].text) == 610


async def test_keyword_answer_waits_while_the_store_is_down(
        channel: GammuSmsChannel, phone: Path, commands: FakeCommands, script: Script) -> None:
    load_fixture("keyword_query", phone)
    commands.down = True

    report = await channel.poll_once()

    assert report.deferred == 1
    assert script.sent == []
    assert inbox_files(phone) == ["1"]


async def test_background_poll_registers_a_text_dropped_into_the_phone(
        settings: GammuSettings, sink: FakeSink, commands: FakeCommands, clock: Clock,
        script: Script, phone: Path) -> None:
    arrived = asyncio.Event()

    async def signalling_sink(envelope: Envelope) -> Receipt:
        receipt = await sink(envelope)
        arrived.set()
        return receipt

    write_incoming_sms(phone, CITIZEN, "马尾区道路积水")
    async with gammu_sms_channel(settings, signalling_sink, commands,
                                 port_factory=port_factory(settings, script), now=clock.now,
                                 monotonic=clock.monotonic, sleep=clock.sleep):
        await asyncio.wait_for(arrived.wait(), timeout=10)

    assert [e.text for e in sink.envelopes] == ["马尾区道路积水"]


async def test_background_poll_outlives_a_modem_failure(
        settings: GammuSettings, sink: FakeSink, commands: FakeCommands, clock: Clock,
        script: Script, phone: Path) -> None:
    settings = settings.model_copy(update={"poll_interval_s": 0.05})
    arrived = asyncio.Event()

    async def signalling_sink(envelope: Envelope) -> Receipt:
        receipt = await sink(envelope)
        arrived.set()
        return receipt

    script.faults["read"] = [_gsm_error(gammu.ERR_DEVICEREADERROR, "GetNextSMS")]
    write_incoming_sms(phone, CITIZEN, "长乐区停电")
    async with gammu_sms_channel(settings, signalling_sink, commands,
                                 port_factory=port_factory(settings, script), now=clock.now,
                                 monotonic=clock.monotonic, sleep=clock.sleep):
        await asyncio.wait_for(arrived.wait(), timeout=10)

    assert script.opened == 2
    assert [e.text for e in sink.envelopes] == ["长乐区停电"]


async def test_default_port_creates_the_demo_phone_and_reads_it(
        tmp_path: Path, sink: FakeSink, commands: FakeCommands, clock: Clock) -> None:
    settings = GammuSettings(enabled=True, device=str(tmp_path / "demo-modem"),
                             state_dir=str(tmp_path / "parts"))
    async with gammu_sms_channel(settings, sink, commands, now=clock.now,
                                 monotonic=clock.monotonic, sleep=clock.sleep,
                                 poll=False) as channel:
        write_incoming_sms(settings.device, CITIZEN, "闽侯县垃圾清运不及时")
        report = await channel.poll_once()

    assert report.registered == 1
    assert [e.sender for e in sink.envelopes] == [CITIZEN]
