"""Outbound calls through Twilio (issue 14.3/14.4): ``calls.create`` against a local fake of the
REST API, and the call's signed webhooks recording delivered, the rating, or another try."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

from channels.twilio_voice.outbound import (
    OUTCALL_PATH,
    OUTCALL_STATUS_PATH,
    SIGN_PURPOSE,
    TwilioCallDeliverer,
)
from channels.twilio_voice.settings import TwilioVoiceSettings
from contract.envelope import Channel
from contract.notice import RATING_REQUEST, Notice, SendError
from contract.signing import Signer
from contract.sms_keywords import RatingTaken
from tests.channels.twilio_voice.conftest import (
    CALL_CREATED,
    PUBLIC,
    Client,
    FakeRecordingsApi,
    Ports,
    make_client,
    post_signed,
    voice_settings,
)

CITIZEN = "+8659187654321"
CALL = CALL_CREATED
CASE = "FZ12345-20261124-000017"


def _settings(api: str) -> TwilioVoiceSettings:
    return voice_settings(api, outbound_from="+8659112345000")


def _notice(kind: str = "answer") -> Notice:
    text = ("请对本次诉求的办理结果进行评价：满意请按1，基本满意请按2，不满意请按3。"
            if kind == RATING_REQUEST else "您的诉求已办结。答复：路灯已修复。")
    return Notice(notice_id=7, channel=Channel.TWILIO_VOICE, address=CITIZEN, text=text,
                  case_number=CASE, kind=kind)


async def _deliver(api: str, signer: Signer, notice: Notice) -> str:
    async with aiohttp.ClientSession() as http:
        return await TwilioCallDeliverer(_settings(api), http, signer).deliver(notice)


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def test_an_answer_call_is_created_with_twiml_that_reads_number_and_text(
        fake: FakeRecordingsApi, fake_api: str, signer: Signer) -> None:
    api = fake_api
    assert await _deliver(api, signer, _notice()) == CALL
    [form] = fake.calls
    assert (form["To"], form["From"], form["Timeout"]) == (CITIZEN, "+8659112345000", "30")
    status = form["StatusCallback"]
    assert status.startswith(PUBLIC + OUTCALL_STATUS_PATH + "?")
    assert signer.verify(SIGN_PURPOSE, "7", _query(status)["sig"])
    twiml = ET.fromstring(form["Twiml"])
    [say] = twiml.findall("Say")
    assert say.get("language") == "zh-CN"
    assert "2 0 2 6 1 1 2 4 0 0 0 0 1 7" in (say.text or "") and "路灯已修复" in (say.text or "")
    [redirect] = twiml.findall("Redirect")
    step = _query(redirect.text or "")
    assert (step["step"], step["notice"], step["play"]) == ("heard", "7", "1")
    assert step["text"] == say.text  # carried along for "press 1 to hear it again"


async def test_a_rating_call_gathers_one_key_while_the_menu_is_read(
        fake: FakeRecordingsApi, fake_api: str, signer: Signer) -> None:
    api = fake_api
    await _deliver(api, signer, _notice(RATING_REQUEST))
    twiml = ET.fromstring(fake.calls[0]["Twiml"])
    first, again = twiml.findall("Gather")
    assert first.get("numDigits") == "1" and _query(first.get("action") or "")["step"] == "rated"
    assert "不满意请按3" in (first.findtext("Say") or "")
    assert (again.findtext("Say") or "").startswith("满意请按1")  # the menu once more
    assert twiml.find("Hangup") is not None


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (429, True), (503, True)])
async def test_a_refused_or_failing_api_is_a_typed_send_error(
        fake: FakeRecordingsApi, fake_api: str, signer: Signer, status: int, retryable: bool) -> None:
    api = fake_api
    fake.fail_with = status
    with pytest.raises(SendError) as error:
        await _deliver(api, signer, _notice())
    assert error.value.retryable is retryable
    with pytest.raises(SendError) as bad:
        await _deliver(api, signer, Notice(notice_id=8, channel=Channel.TWILIO_VOICE,
                                           address="12", text="x", case_number=CASE))
    assert not bad.value.retryable


# The call's webhooks -------------------------------------------------------------------------

@dataclass
class CallPorts(Ports):
    """Ports that record delivery reports and ratings (one open request, for ``CITIZEN``)."""

    statuses: list[tuple[str, str]] = field(default_factory=list)
    ratings: list[tuple[int, str, str]] = field(default_factory=list)

    async def record_status(self, ref: str, status: str, error: str | None) -> None:
        self.statuses.append((ref, status))

    async def rate(self, choice: int, sender_e164: str, *, channel: str,
                   in_reply: bool) -> RatingTaken:
        self.ratings.append((choice, sender_e164, channel))
        return RatingTaken(taken=sender_e164 == CITIZEN, reply="谢谢")


@pytest.fixture
async def outcall_client(fake_api: str, signer: Signer,
                         tmp_path: Path) -> AsyncIterator[tuple[Client, CallPorts]]:
    ports = CallPorts()
    client = await make_client(_settings(fake_api), ports, signer, tmp_path)
    try:
        yield client, ports
    finally:
        await client.close()


def _form(**extra: str) -> dict[str, str]:
    return {"CallSid": CALL, "From": "+8659112345000", "To": CITIZEN, "Direction": "outbound-api",
            "CallStatus": "in-progress", **extra}


def _path(path: str, signer: Signer, notice: str = "7", **query: str) -> str:
    sig = signer.sign(SIGN_PURPOSE, notice)
    return f"{path}?{urlencode({'notice': notice, 'sig': sig, **query})}"


async def test_heard_records_delivered_and_offers_a_replay_which_key_1_plays(
        outcall_client: tuple[Client, CallPorts], signer: Signer) -> None:
    client, ports = outcall_client
    heard = await post_signed(client, _path(OUTCALL_PATH, signer, step="heard", play="1",
                                            text="您的诉求已办结"), _form())
    assert heard.status == 200 and ports.statuses == [("7", "delivered")]
    gather = ET.fromstring(await heard.text()).find("Gather")
    assert gather is not None and "重听请按一" in (gather.findtext("Say") or "")
    action = gather.get("action") or ""
    again = await post_signed(client, action.removeprefix(PUBLIC), _form(Digits="1"))
    replay = ET.fromstring(await again.text())
    assert replay.findtext("Say") == "您的诉求已办结"
    assert _query(replay.findtext("Redirect") or "")["play"] == "2"


async def test_key_3_in_the_rating_menu_lands_as_the_sms_reply_would(
        outcall_client: tuple[Client, CallPorts], signer: Signer) -> None:
    client, ports = outcall_client
    rated = await post_signed(client, _path(OUTCALL_PATH, signer, step="rated"), _form(Digits="3"))
    assert rated.status == 200 and "感谢您的评价" in await rated.text()
    assert ports.ratings == [(3, CITIZEN, "twilio_voice")]
    assert ports.statuses == [("7", "delivered")]
    wrong = await post_signed(client, _path(OUTCALL_PATH, signer, step="rated"), _form(Digits="9"))
    assert "输入有误" in await wrong.text() and len(ports.ratings) == 1


@pytest.mark.parametrize(("call_status", "word"), [
    ("no-answer", "no-answer"), ("busy", "busy"), ("completed", "unheard"), ("failed", "failed"),
    ("ringing", None)])
async def test_the_status_callback_hands_unanswered_calls_to_the_outbox(
        outcall_client: tuple[Client, CallPorts], signer: Signer, call_status: str,
        word: str | None) -> None:
    client, ports = outcall_client
    response = await post_signed(client, _path(OUTCALL_STATUS_PATH, signer),
                                 _form(CallStatus=call_status, Unknown="ignored"))
    assert response.status == 204
    assert ports.statuses == ([("7", word)] if word else [])


@pytest.mark.parametrize("forgery", ["twilio", "notice"])
async def test_forged_outbound_webhooks_are_refused_403(
        outcall_client: tuple[Client, CallPorts], signer: Signer, forgery: str) -> None:
    client, ports = outcall_client
    kwargs: dict[str, Any] = {}
    path = _path(OUTCALL_STATUS_PATH, signer)
    if forgery == "twilio":
        kwargs["signature"] = "forged"
    else:  # a valid Twilio signature, but the notice id is not one we signed
        path = path.replace("notice=7", "notice=8")
    response = await post_signed(client, path, _form(CallStatus="busy"), **kwargs)
    assert response.status == 403 and ports.statuses == []
