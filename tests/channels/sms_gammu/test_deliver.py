"""Sending notices through the dummy modem: splitting, pacing, retries, final failures.

Sends go through the real python-gammu ``SendSMS`` of the dummy driver
(which forgets them) and are captured by ``ScriptedPort``.
"""

from __future__ import annotations

import gammu
import pytest

from channels.sms_gammu.adapter import GammuSmsChannel
from channels.sms_gammu.deliver import fits_gsm7
from contract.envelope import Channel
from contract.notice import Notice, SendError

from .conftest import Clock, Script

CITIZEN = "+8613800138000"
ANSWER = ("【12345】您反映的鼓楼区五四路路灯损坏问题（FZ12345-20261124-000017），经鼓楼区城管局"
          "核实，已于11月25日完成维修，并对周边十二盏路灯进行了检查。如对办理结果不满意，可拨打"
          "12345或回复本短信。感谢您对城市管理工作的支持！本短信由福州市12345便民服务平台"
          "发送，请勿转发。")


def _notice(text: str = ANSWER, address: str = CITIZEN, notice_id: int = 7) -> Notice:
    return Notice(notice_id=notice_id, channel=Channel.SMS_MODEM, address=address, text=text,
                  case_number="FZ12345-20261124-000017")


def _err(cls: type[gammu.GSMError]) -> gammu.GSMError:
    return cls({"Text": "injected", "Where": "SendSMS", "Code": 0})


async def test_long_chinese_notice_is_split_into_concatenated_ucs2_parts(
        channel: GammuSmsChannel, script: Script) -> None:
    reference = await channel.deliverer.deliver(_notice())

    assert len(script.sent) == 3
    assert reference == "255,255,255"  # the dummy driver's reference for every part
    assert {m["Coding"] for m in script.sent} == {"Unicode_No_Compression"}
    assert [m["UDH"]["PartNumber"] for m in script.sent] == [1, 2, 3]
    assert {m["Number"] for m in script.sent} == {CITIZEN}
    decoded = gammu.DecodeSMS(script.sent)
    assert decoded["Entries"][0]["Buffer"] == ANSWER


async def test_ascii_notice_uses_7bit_gsm(channel: GammuSmsChannel, script: Script) -> None:
    await channel.deliverer.deliver(_notice("Your case FZ12345-20261124-000017 is answered."))

    assert len(script.sent) == 1
    assert script.sent[0]["Coding"] == "Default_No_Compression"
    assert fits_gsm7("Hello @ 5€") and not fits_gsm7("你好")


async def test_sends_are_paced_to_the_configured_rate(channel: GammuSmsChannel, script: Script,
                                                      clock: Clock) -> None:
    started = clock.monotonic()

    await channel.deliverer.deliver(_notice())  # 3 parts at 10 a minute

    assert len(script.sent) == 3
    assert clock.monotonic() - started == pytest.approx(12.0)
    assert clock.sleeps == [pytest.approx(6.0), pytest.approx(6.0)]


async def test_transient_error_is_retried_and_the_notice_delivered(
        channel: GammuSmsChannel, script: Script) -> None:
    script.faults["send"] = [_err(gammu.ERR_BUSY), _err(gammu.ERR_TIMEOUT)]

    await channel.deliverer.deliver(_notice("短消息"))

    assert len(script.sent) == 1
    assert script.opened == 2  # the timeout dropped the modem and reopened it


async def test_unknown_number_format_is_a_permanent_failure_tried_once(
        channel: GammuSmsChannel, script: Script) -> None:
    script.faults["send"] = [_err(gammu.ERR_UNKNOWN)]

    with pytest.raises(SendError) as caught:
        await channel.deliverer.deliver(_notice("短消息"))

    assert caught.value.retryable is False
    assert caught.value.code == "err_unknown"
    assert script.sent == []
    assert script.faults["send"] == []


async def test_persistent_transient_error_asks_the_outbox_to_retry_later(
        channel: GammuSmsChannel, script: Script) -> None:
    script.faults["send"] = [_err(gammu.ERR_BUSY)] * 3

    with pytest.raises(SendError) as caught:
        await channel.deliverer.deliver(_notice("短消息"))

    assert caught.value.retryable is True
    assert script.sent == []


async def test_unparseable_address_fails_for_good_without_touching_the_modem(
        channel: GammuSmsChannel, script: Script) -> None:
    with pytest.raises(SendError) as caught:
        await channel.deliverer.deliver(_notice(address="ICBC"))

    assert caught.value.retryable is False and caught.value.code == "bad_address"
    assert script.sent == [] and script.opened == 0


async def test_empty_notice_is_refused(channel: GammuSmsChannel, script: Script) -> None:
    with pytest.raises(SendError) as caught:
        await channel.deliverer.deliver(_notice(text="  \n "))

    assert caught.value.retryable is False
    assert script.sent == []


async def test_retry_of_a_half_sent_notice_sends_only_the_remaining_parts(
        channel: GammuSmsChannel, script: Script) -> None:
    script.faults["send"] = [None, _err(gammu.ERR_BUSY), _err(gammu.ERR_BUSY),
                             _err(gammu.ERR_BUSY)]

    with pytest.raises(SendError) as caught:
        await channel.deliverer.deliver(_notice())
    assert caught.value.retryable is True
    assert len(script.sent) == 1

    await channel.deliverer.deliver(_notice())

    assert [m["UDH"]["PartNumber"] for m in script.sent] == [1, 2, 3]
    assert len({m["UDH"]["ID8bit"] for m in script.sent}) == 1  # one message, not two
    assert gammu.DecodeSMS(script.sent)["Entries"][0]["Buffer"] == ANSWER
