"""Twilio Voice inside the whole app, on both databases: a voicemail becomes a case that
awaits transcription with its recording attached, whether or not a model is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from channels.twilio_voice.webhook import SIGN_PURPOSE
from contract.clock import FixedClock
from contract.transcript import VOICE_PLACEHOLDER_PREFIX
from intake import keys
from intake.app import create_app
from registrar.models import Case
from registrar.transcription import awaits_transcription
from tests.conftest import make_settings

from .conftest import ACCOUNT_SID, AUTH_TOKEN, CALL_SID, CALLER, PUBLIC, RECORDING_SID, call_form, post_signed


@pytest.fixture
async def app_client(db_url: str, tmp_path: Path, fake_api: str,
                     clock: FixedClock) -> AsyncIterator[TestClient[Any, Any]]:
    settings = make_settings(db_url, tmp_path / "data", twilio_voice={
        "enabled": True, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
        "public_base_url": PUBLIC, "api_base_url": fake_api})
    assert settings.transcription.model_dir == ""  # no model: the agent listens
    async with TestClient(TestServer(create_app(settings, clock=clock))) as client:
        yield client


async def test_voicemail_registers_awaiting_transcription_without_a_model(
        app_client: TestClient[Any, Any]) -> None:
    menu = await post_signed(app_client, "/channels/twilio/voice", call_form())
    assert menu.status == 200
    sig = app_client.app[keys.SIGNER].sign(SIGN_PURPOSE, CALL_SID)
    done = await post_signed(app_client, f"/channels/twilio/voice/recording?call={CALL_SID}&sig={sig}",
                             call_form(RecordingSid=RECORDING_SID, RecordingStatus="completed",
                                       RecordingDuration="3"))
    assert done.status == 204
    async with app_client.app[keys.SESSIONMAKER]() as session:
        case = (await session.execute(select(Case).options(selectinload(Case.attachments))
                                      .where(Case.external_id == CALL_SID))).scalar_one()
    assert case.channel == "twilio_voice" and case.sender == CALLER
    assert case.text.startswith(VOICE_PLACEHOLDER_PREFIX) and awaits_transcription(case)
    assert [a.content_type for a in case.attachments] == ["audio/wav"]
