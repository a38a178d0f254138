"""R12 end to end through Twilio inside the whole app, on both databases: a landline's answer
is a call (posted to the local fake REST API), its ``heard`` step marks it delivered, the 回访
call's menu takes 3, and the case shows 不满意 on the dissatisfied follow-up list."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from config.settings import Settings
from contract.clock import FixedClock
from contract.envelope import Channel
from forwarder.callbacks import REQUEST_KIND, dissatisfied_cases
from intake import keys
from intake.app import create_app
from registrar.models import Notice, NoticeStatus
from registrar.models_cockpit import CallbackRating
from tests.conftest import make_settings
from tests.forwarder.test_call_notices import LANDLINE, _answered_phone_case

from .conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC, FakeRecordingsApi, post_signed

OUR_NUMBER = "+8659112345000"


@pytest.fixture
def app_settings(db_url: str, tmp_path: Path, fake_api: str) -> Settings:
    return make_settings(db_url, tmp_path / "data", twilio_voice={
        "enabled": True, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
        "public_base_url": PUBLIC, "api_base_url": fake_api, "outbound_from": OUR_NUMBER},
        worker={"outbox_enabled": False, "sweeper_enabled": False,
                "voice_channel": "twilio_voice"})


@pytest.fixture
async def app_client(app_settings: Settings,
                     clock: FixedClock) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(app_settings, clock=clock))) as client:
        yield client


def _form(**extra: str) -> dict[str, str]:
    return {"CallSid": "CA" + "7" * 32, "From": OUR_NUMBER, "To": LANDLINE,
            "Direction": "outbound-api", "CallStatus": "in-progress", **extra}


async def _notice(client: TestClient[Any, Any], kind: str) -> Notice:
    async with client.app[keys.SESSIONMAKER]() as session:
        return (await session.execute(select(Notice).where(Notice.kind == kind))).scalar_one()


async def test_R12_twilio_answer_call_heard_then_keypad_3_lands_as_dissatisfied(
        app_client: TestClient[Any, Any], app_settings: Settings, clock: FixedClock,
        fake: FakeRecordingsApi) -> None:
    number = await _answered_phone_case(app_settings, clock, caller=LANDLINE,
                                        channel=Channel.TWILIO_VOICE)
    outbox = app_client.app[keys.OUTBOX]
    assert (await outbox.run_once()).sent == 1
    [answer_call] = fake.calls
    assert answer_call["To"] == LANDLINE and answer_call["From"] == OUR_NUMBER
    redirect = ET.fromstring(answer_call["Twiml"]).findtext("Redirect") or ""
    heard = await post_signed(app_client, redirect.removeprefix(PUBLIC), _form())
    assert heard.status == 200
    assert (await _notice(app_client, "answer")).status == NoticeStatus.DELIVERED

    request = await _notice(app_client, REQUEST_KIND)  # heard: the 回访 call is queued
    assert (request.channel, request.address) == (Channel.TWILIO_VOICE, LANDLINE)
    assert (await outbox.run_once()).sent == 1
    gather = ET.fromstring(fake.calls[1]["Twiml"]).find("Gather")
    assert gather is not None
    rated = await post_signed(app_client, (gather.get("action") or "").removeprefix(PUBLIC),
                              _form(Digits="3"))
    assert rated.status == 200 and "感谢您的评价" in await rated.text()
    assert (await _notice(app_client, REQUEST_KIND)).status == NoticeStatus.DELIVERED
    async with app_client.app[keys.SESSIONMAKER]() as session:
        rating = (await session.execute(select(CallbackRating))).scalar_one()
        assert (rating.comment, rating.recorded_by) == ("不满意", "citizen:twilio_voice")
        assert [c.number for c, _ in await dissatisfied_cases(session)] == [number]
    # The call's end after all this changes nothing: heard stays delivered.
    status_path = fake.calls[1]["StatusCallback"].removeprefix(PUBLIC)
    done = await post_signed(app_client, status_path, _form(CallStatus="completed"))
    assert done.status == 204
    assert (await _notice(app_client, REQUEST_KIND)).status == NoticeStatus.DELIVERED
