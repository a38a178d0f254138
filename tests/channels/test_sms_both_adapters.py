"""One table of SMS situations, run through both SMS adapters (issue 5: one harness).

Each situation is what a citizen texts; each adapter gets it its own way (the
Gammu dummy phone reads an SMS-backup file; Twilio posts a signed webhook), and
both must turn it into the same outcome: the same envelope (text, sender), the
same keyword command, or nothing at all. Adapter-specific faults (modem gone,
forged webhook, database down) are in each adapter's own test folder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels.sms_gammu import gammu_sms_channel, write_incoming_sms
from channels.sms_gammu.settings import GammuSettings
from channels.sms_twilio import add_twilio_routes
from channels.sms_twilio.settings import TwilioSettings
from contract.envelope import Channel, Envelope, Receipt
from contract.sms_keywords import QUERY_HELP_TEXT, RatingTaken
from tests.channels.sms_twilio.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    NOW,
    OUR_NUMBER,
    PUBLIC,
    closed_port_url,
    sign,
)

ASKED = "+8613800138001"
"""The number the fake commands hold an open rating request for."""
LONG = "鼓楼区五四路与古田路交叉口的红绿灯坏了三天，早晚高峰车辆拥堵严重，" * 6


@dataclass(frozen=True)
class Situation:
    label: str
    sender: str
    text: str
    kind: str  # "item", "command" or "nothing"
    sender_e164: str | None = None
    command: tuple[str, ...] = ()


SITUATIONS = [
    Situation("chinese item", "+8613800138000", "五四路路灯不亮，晚上很黑", "item", "+8613800138000"),
    Situation("national number format", "13800138000", "小区电梯停运", "item", "+8613800138000"),
    Situation("long chinese in several parts", "+8613800138000", LONG.strip(), "item", "+8613800138000"),
    Situation("whitespace only", "+8613800138000", "   ", "nothing"),
    Situation("case query", "+8613800138000", "CX FZ12345-20261124-000001", "command",
              command=("case_status", "FZ12345-20261124-000001", "+8613800138000")),
    Situation("case query in chinese", "+8613800138000", "查询 FZ12345-20261124-000001", "command",
              command=("case_status", "FZ12345-20261124-000001", "+8613800138000")),
    Situation("unsubscribe", "+8613800138000", "退订", "command",
              command=("unsubscribe", "+8613800138000")),
    Situation("item 17: a bare CX asks the commands for the help text (an outbox notice)",
              "+8613800138000", "CX", "command", command=("query_help", "+8613800138000")),
    Situation("a keyword inside a sentence is an item", "+8613800138000", "查询一下社保缴费记录", "item",
              "+8613800138000"),
    # R12 回访: a bare digit is a rating only from a number with an open rating request.
    Situation("R12.1 a bare 1 from a number never asked is an item", "+8613800138000", "1", "item",
              "+8613800138000"),
    Situation("R12.1 a 3 from a number asked to rate is a rating", ASKED, "３", "command",
              command=("rate", "3", ASKED)),
    Situation("R12.1 不满意 from a number asked to rate is a rating", ASKED, "不满意。", "command",
              command=("rate", "3", ASKED)),
    Situation("R12.1 a rating word inside a sentence is an item", ASKED, "不满意，路灯还是不亮",
              "item", ASKED),
]


@dataclass
class Recorder:
    """Sink and commands together: what reached intake from an adapter."""

    envelopes: list[Envelope] = field(default_factory=list)
    commands: list[tuple[str, ...]] = field(default_factory=list)

    async def __call__(self, envelope: Envelope) -> Receipt:
        self.envelopes.append(envelope)
        return Receipt(f"FZ12345-20261124-{len(self.envelopes):06d}", created=True)

    async def case_status(self, case_number: str, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        self.commands.append(("case_status", case_number, sender_e164))
        return f"【12345】{case_number} 办理中"

    async def query_help(self, sender_e164: str, *, channel: str,
                         in_reply: bool) -> str | None:
        self.commands.append(("query_help", sender_e164))
        return QUERY_HELP_TEXT

    async def unsubscribe(self, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        self.commands.append(("unsubscribe", sender_e164))
        return "【12345】已退订"

    async def rate(self, choice: int, sender_e164: str, *, channel: str,
                   in_reply: bool) -> RatingTaken:
        """Only ``ASKED`` has an open rating request: anyone else's bare "1" stays an item."""
        if sender_e164 != ASKED:
            return RatingTaken(taken=False)
        self.commands.append(("rate", str(choice), sender_e164))
        return RatingTaken(taken=True, reply="【12345】感谢您的评价" if in_reply else None)


Deliver = Callable[[Situation], Awaitable[None]]


@pytest.fixture(params=["gammu", "twilio"])
async def adapter(request: pytest.FixtureRequest,
                  tmp_path: Path) -> AsyncIterator[tuple[Recorder, Deliver]]:
    recorder = Recorder()
    if request.param == "gammu":
        phone = tmp_path / "phone"
        settings = GammuSettings(enabled=True, device=str(phone), state_dir=str(tmp_path / "parts"),
                                 reconnect_delay_s=0)
        async with gammu_sms_channel(settings, recorder, recorder, poll=False) as channel:

            async def by_modem(situation: Situation) -> None:
                write_incoming_sms(phone, situation.sender, situation.text)
                await channel.poll_once()
                assert not list((phone / "sms" / "1").iterdir()), "the SMS stays on the SIM"

            yield recorder, by_modem
        return
    app = web.Application()
    # No media in these situations: the REST API is a closed port that must never be called.
    twilio = TwilioSettings(enabled=True, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                            phone_number=OUR_NUMBER, public_base_url=PUBLIC,
                            api_base_url=closed_port_url(), state_dir=str(tmp_path / "twilio"))
    add_twilio_routes(app, settings=twilio, sink=recorder,
                      commands=recorder, status_recorder=_no_status, clock=lambda: NOW,
                      reconcile=False)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:

        async def by_webhook(situation: Situation) -> None:
            body = urlencode({"MessageSid": "SM" + "a" * 32, "AccountSid": ACCOUNT_SID,
                              "From": situation.sender, "To": OUR_NUMBER, "Body": situation.text,
                              "NumMedia": "0"}).encode()
            path = "/channels/twilio/sms"
            response = await client.post(path, data=body, headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(PUBLIC + path, body)})
            assert response.status == 200, await response.text()

        yield recorder, by_webhook


async def _no_status(ref: str, status: str, error_code: str | None) -> None:
    raise AssertionError("no status callback in these situations")


@pytest.mark.parametrize("situation", SITUATIONS, ids=[s.label for s in SITUATIONS])
async def test_both_sms_adapters_agree(adapter: tuple[Recorder, Deliver], situation: Situation) -> None:
    recorder, deliver = adapter
    await deliver(situation)
    if situation.kind == "item":
        [envelope] = recorder.envelopes
        assert envelope.channel in (Channel.SMS_MODEM, Channel.SMS_TWILIO)
        assert envelope.text == situation.text.strip()
        assert (envelope.sender, envelope.reply_address) == (situation.sender_e164,) * 2
        assert recorder.commands == []
    elif situation.kind == "command":
        assert recorder.envelopes == [] and recorder.commands == [situation.command]
    else:
        assert recorder.envelopes == [] and recorder.commands == []
