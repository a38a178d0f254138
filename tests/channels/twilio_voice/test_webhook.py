"""Twilio Voice webhooks with signed posts and the local fake Recordings API (issue 14.2):
the Mandarin menu and its three choices, the status callback, voicemail registered once
per call, and what is refused (403) or ignored (204)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from channels.twilio_voice.webhook import SIGN_PURPOSE
from contract.envelope import Channel
from contract.signing import Signer
from contract.transcript import VOICE_PLACEHOLDER_PREFIX

from .conftest import (
    ACCOUNT_SID,
    CALL_SID,
    CALLER,
    PUBLIC,
    RECORDING_SID,
    Client,
    FakeRecordingsApi,
    Ports,
    call_form,
    make_client,
    post_signed,
    voice_settings,
    wav_bytes,
)

VOICE = "/channels/twilio/voice"


async def twiml(client: Client, path_qs: str, **form: str) -> ElementTree.Element:
    response = await post_signed(client, path_qs, call_form(**form))
    assert response.status == 200, await response.text()
    assert response.content_type == "application/xml"
    return ElementTree.fromstring(await response.text())


def local(url: str) -> str:
    """A TwiML URL (absolute, on the public base) as the path the test server serves."""
    assert url.startswith(PUBLIC + "/channels/twilio/voice"), url
    return url[len(PUBLIC):]


def said(root: ElementTree.Element) -> str:
    return "".join(s.text or "" for s in root.iter("Say"))


def call_record(tmp_path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (tmp_path / "twilio_voice" / "calls" / f"{CALL_SID}.json").read_text(encoding="utf-8"))
    return data


async def choose(client: Client, key: str) -> ElementTree.Element:
    menu = await twiml(client, VOICE)
    gather = menu.find("Gather")
    assert gather is not None
    return await twiml(client, local(gather.attrib["action"]), Digits=key)


async def test_first_request_opens_the_call_and_answers_the_mandarin_menu(
        client: Client, tmp_path: Path) -> None:
    root = await twiml(client, VOICE)
    gather = root.find("Gather")
    assert gather is not None and gather.attrib["numDigits"] == "1"
    assert gather.attrib["input"] == "dtmf"
    assert {s.attrib["language"] for s in root.iter("Say")} == {"zh-CN"}
    assert all(k in said(root) for k in ("请按一", "请按二", "请按零"))
    record = call_record(tmp_path)
    assert record["caller"] == CALLER and record["ended_at"] is None


async def test_key_1_records_with_a_callback_signed_for_this_call(client: Client,
                                                                   signer: Signer) -> None:
    root = await choose(client, "1")
    record = root.find("Record")
    assert record is not None and record.attrib["finishOnKey"] == "#"
    callback = record.attrib["recordingStatusCallback"]
    match = re.fullmatch(re.escape(PUBLIC) + r"/channels/twilio/voice/recording\?call=(CA\w+)&sig=(\w+)",
                         callback)
    assert match and match.group(1) == CALL_SID
    assert signer.verify(SIGN_PURPOSE, CALL_SID, match.group(2))
    after = await twiml(client, local(record.attrib["action"]))
    assert root.find("Hangup") is not None and after.find("Hangup") is not None


async def test_key_2_reads_the_status_of_the_keyed_case_to_its_caller_only(
        client: Client, ports: Ports) -> None:
    ask = await choose(client, "2")
    gather = ask.find("Gather")
    assert gather is not None and gather.attrib["finishOnKey"] == "#"
    answer = await twiml(client, local(gather.attrib["action"]), Digits="20261124000017")
    assert ports.lookups == [("FZ12345-20261124-000017", CALLER)]
    assert "办理中" in said(answer) and "【" not in said(answer)
    assert "2 0 2 6 1 1 2 4 0 0 0 0 1 7" in said(answer)  # digits read one by one
    wrong = await twiml(client, local(gather.attrib["action"]), Digits="123")
    assert "编号位数不对" in said(wrong) and len(ports.lookups) == 1


async def test_key_0_pops_the_call_on_the_consoles_and_dials_the_agents(
        client: Client, ports: Ports) -> None:
    root = await choose(client, "0")
    dial = root.find("Dial")
    assert dial is not None and dial.findtext("Number") == "+8659112345001"
    assert ports.announced == [CALLER]
    busy = await twiml(client, local(dial.attrib["action"]), DialCallStatus="no-answer")
    assert busy.find("Record") is not None and "请在提示音后留言" in said(busy)


async def test_key_0_without_agents_configured_offers_voicemail(
        fake_api: str, ports: Ports, signer: Signer, tmp_path: Path) -> None:
    client = await make_client(voice_settings(fake_api, agent=""), ports, signer, tmp_path)
    try:
        root = await choose(client, "0")
    finally:
        await client.close()
    assert root.find("Dial") is None and root.find("Record") is not None


async def test_wrong_key_repeats_the_menu_and_silence_ends_in_goodbye(client: Client) -> None:
    wrong = await choose(client, "7")
    assert "输入有误" in said(wrong) and wrong.find("Gather") is not None
    redirect = wrong.find("Redirect")
    assert wrong.find("Hangup") is not None and redirect is None  # the last of two menus
    first = await twiml(client, VOICE)
    again = first.find("Redirect")
    assert again is not None and again.text
    silent = await twiml(client, local(again.text))
    assert silent.find("Gather") is not None and silent.find("Hangup") is not None


async def test_status_callback_closes_the_call_record(client: Client, tmp_path: Path) -> None:
    await twiml(client, VOICE)
    ringing = await post_signed(client, VOICE + "/status", call_form(CallStatus="ringing"))
    assert ringing.status == 204 and call_record(tmp_path)["ended_at"] is None
    done = await post_signed(client, VOICE + "/status", call_form(
        CallStatus="completed", CallDuration="42", SomethingNew="ignored"))
    assert done.status == 204
    record = call_record(tmp_path)
    assert record["status"] == "completed" and record["duration_s"] == 42 and record["ended_at"]


async def test_unknown_call_sids_get_204_never_500(client: Client, signer: Signer) -> None:
    stranger = "CA" + "9" * 32
    status = await post_signed(client, VOICE + "/status", call_form(CallSid=stranger,
                                                                    CallStatus="completed"))
    odd = await post_signed(client, VOICE + "/status", call_form(CallSid="../../etc/passwd",
                                                                 CallStatus="completed"))
    path = f"{VOICE}/recording?call={stranger}&sig={signer.sign(SIGN_PURPOSE, stranger)}"
    recording = await post_signed(client, path, call_form(
        CallSid=stranger, RecordingSid=RECORDING_SID, RecordingStatus="completed",
        RecordingDuration="9"))
    assert (status.status, odd.status, recording.status) == (204, 204, 204)


def recording_path(signer: Signer, call_sid: str = CALL_SID) -> str:
    return f"{VOICE}/recording?call={call_sid}&sig={signer.sign(SIGN_PURPOSE, call_sid)}"


async def test_recording_is_fetched_and_registered_once_as_a_voicemail_awaiting_transcription(
        client: Client, ports: Ports, signer: Signer, fake: FakeRecordingsApi, tmp_path: Path) -> None:
    await twiml(client, VOICE)
    form = call_form(RecordingSid=RECORDING_SID, RecordingStatus="completed", RecordingDuration="9",
                     RecordingUrl="https://evil.example/steal", RecordingChannels="1")
    first = await post_signed(client, recording_path(signer), form)
    again = await post_signed(client, recording_path(signer), form)
    assert (first.status, again.status) == (204, 204)
    assert fake.requests == [(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}.wav",
                              True)]  # fetched by its SID, authorised, once
    envelope = ports.envelopes[0]
    assert envelope.channel == Channel.TWILIO_VOICE and envelope.external_id == CALL_SID
    assert envelope.text.startswith(VOICE_PLACEHOLDER_PREFIX) and "9 秒" in envelope.text
    assert envelope.sender == CALLER and envelope.reply_address == CALLER
    [audio] = envelope.attachments
    assert audio.content_type == "audio/wav" and audio.data == wav_bytes()
    assert len(ports.envelopes) == 1  # the repeated callback finds the case on the call record
    assert call_record(tmp_path)["case_number"] == "FZ12345-20261124-000001"


@pytest.mark.parametrize("form", [
    {"RecordingStatus": "absent", "RecordingDuration": "0"},
    {"RecordingStatus": "completed", "RecordingDuration": "1"},
    {"RecordingStatus": "failed", "RecordingDuration": "30"},
], ids=["absent", "too-short", "failed"])
async def test_absent_or_too_short_recording_makes_no_case(
        client: Client, ports: Ports, signer: Signer, fake: FakeRecordingsApi,
        form: dict[str, str]) -> None:
    await twiml(client, VOICE)
    response = await post_signed(client, recording_path(signer),
                                 call_form(RecordingSid=RECORDING_SID, **form))
    assert response.status == 204 and ports.envelopes == [] and fake.requests == []


async def test_recording_gone_from_twilio_makes_no_case_and_an_outage_asks_for_a_retry(
        client: Client, ports: Ports, signer: Signer, fake: FakeRecordingsApi) -> None:
    await twiml(client, VOICE)
    form = call_form(RecordingSid="RE" + "3" * 32, RecordingStatus="completed",
                     RecordingDuration="9")
    assert (await post_signed(client, recording_path(signer), form)).status == 204
    fake.fail_with = 500
    form["RecordingSid"] = RECORDING_SID
    assert (await post_signed(client, recording_path(signer), form)).status == 503
    fake.fail_with = None
    ports.store_down = True
    assert (await post_signed(client, recording_path(signer), form)).status == 503
    assert ports.envelopes == []


@pytest.mark.parametrize("path", [VOICE, VOICE + "/status", VOICE + "/recording?call=x&sig=y"])
async def test_forged_twilio_signature_is_refused_403(client: Client, path: str) -> None:
    response = await post_signed(client, path, call_form(), signature="forged")
    assert response.status == 403


async def test_recording_callback_not_signed_by_us_for_this_call_is_403(
        client: Client, ports: Ports, signer: Signer) -> None:
    await twiml(client, VOICE)
    form = call_form(RecordingSid=RECORDING_SID, RecordingStatus="completed", RecordingDuration="9")
    forged = await post_signed(client, f"{VOICE}/recording?call={CALL_SID}&sig=0000", form)
    other = "CA" + "4" * 32
    swapped = await post_signed(client, recording_path(signer, other), form)  # CallSid differs
    assert (forged.status, swapped.status) == (403, 403) and ports.envelopes == []
