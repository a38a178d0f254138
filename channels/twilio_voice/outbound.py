"""Outbound calls through Twilio: answers read to landlines and 回访 keypad menus (issue 14.3/14.4).

``TwilioCallDeliverer.deliver`` creates the call (``calls.create``: To, From,
inline TwiML, a status callback) and returns its CallSid: the notice is then
*sent*, not yet heard. The call itself reports back to two webhooks, both
verified like every Twilio webhook (403 when forged) and carrying our own
signature of the notice id, so a forged request cannot mark someone else's
notice:

* ``POST /channels/twilio/voice/outbound?notice=…&step=…`` — the call's TwiML
  steps. An answer: the message (who calls, the case number digit by digit,
  the text) then ``heard``, which records the notice **delivered** and offers
  "press 1 to hear it again". A rating request: the message is the keypad
  menu; ``rated`` with 1–3 records the rating through ``commands.rate`` (the
  SMS reply's path, ``record_callback``) and the notice delivered.
* ``POST /channels/twilio/voice/outbound/status?notice=…`` — the call ended:
  busy, no-answer, canceled, or completed before the message was heard
  (``unheard``) go to the outbox, which tries again within calling hours or
  gives up; a notice already delivered stays delivered.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import aiohttp
from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from channels.twilio_voice.settings import TwilioVoiceSettings
from channels.twilio_voice.twiml import GOODBYE, WRONG_KEY, Flow, spoken
from contract.channel import ChannelPorts
from contract.envelope import Channel, TryLater
from contract.normalise import InvalidInput, normalise_phone
from contract.notice import RATING_REQUEST, Notice, SendError
from contract.signing import Signer
from contract.twilio_signature import verified_form

log = logging.getLogger(__name__)

OUTCALL_PATH = "/channels/twilio/voice/outbound"
OUTCALL_STATUS_PATH = "/channels/twilio/voice/outbound/status"
SIGN_PURPOSE = "twilio-voice-outcall"
INTRO = "您好，这里是一二三四五热线。您的受理编号是："
REPEAT = "重听请按一，结束请挂机。"
THANKS = "感谢您的评价，再见。"
MAX_PLAYS = 3
MAX_TEXT_IN_URL = 2500
"""Longer texts (URL-encoded) are not offered again: Twilio's URLs stay under its limit."""
RATING_KEYS = frozenset("123")
#: Twilio's final call statuses → the outbox's words (``completed`` without ``heard`` first).
CALL_END_WORDS = {"completed": "unheard", "busy": "busy", "no-answer": "no-answer",
                  "canceled": "canceled", "failed": "failed"}


class OutcallFlow:
    """The TwiML of one outbound call's steps; URLs carry the notice id and its signature."""

    def __init__(self, settings: TwilioVoiceSettings, signer: Signer) -> None:
        self.flow, self.signer = Flow(settings), signer
        self.settings = settings

    def _url(self, path: str, notice_id: int, **query: str | int) -> str:
        sig = self.signer.sign(SIGN_PURPOSE, str(notice_id))
        return self.flow.url(path, notice=notice_id, sig=sig, **query)

    def _say(self, target: VoiceResponse, text: str) -> None:
        target.say(text, language="zh-CN", voice=self.settings.voice)

    def status_url(self, notice_id: int) -> str:
        return self._url(OUTCALL_STATUS_PATH, notice_id)

    def message(self, notice_id: int, text: str, *, rating: bool, play: int = 1) -> str:
        """The first TwiML: the message, then the replay offer (an answer) or the keypad menu."""
        response = VoiceResponse()
        if rating:  # the message ends with the menu: a key is taken while it is read
            for attempt in (1, 2):
                gather = response.gather(input="dtmf", num_digits=1, timeout=6, method="POST",
                                         action=self._url(OUTCALL_PATH, notice_id, step="rated"))
                self._say(gather, text if attempt == 1 else spoken(text.rsplit("：", 1)[-1]))
            self._say(response, GOODBYE)
            response.hangup()
        else:
            # The text rides in the URL (Twilio signs it whole) for "press 1 to hear it again".
            response.say(text, language="zh-CN", voice=self.settings.voice)
            response.redirect(self._url(OUTCALL_PATH, notice_id, step="heard", play=play,
                                        **self._replayable(text)), method="POST")
        return str(response.to_xml())

    @staticmethod
    def _replayable(text: str) -> dict[str, str]:
        return {"text": text} if len(quote(text)) <= MAX_TEXT_IN_URL else {}

    def offer_replay(self, notice_id: int, play: int, text: str) -> str:
        """After the message: "press 1 to hear it again" (while plays are left and the text
        came along), then goodbye."""
        if play >= MAX_PLAYS or not text:
            return self.goodbye()
        response = VoiceResponse()
        gather = response.gather(input="dtmf", num_digits=1, timeout=6, method="POST",
                                 action=self._url(OUTCALL_PATH, notice_id, step="again",
                                                  play=play, text=text))
        self._say(gather, REPEAT)
        self._say(response, GOODBYE)
        response.hangup()
        return str(response.to_xml())

    def goodbye(self, text: str = GOODBYE) -> str:
        return self.flow.goodbye(text)


def call_text(notice: Notice) -> str:
    """What the call says first: who calls, the case number digit by digit, the notice."""
    return spoken(f"{INTRO}{notice.case_number}。{notice.text}")


class TwilioCallDeliverer:
    """Delivers notices on ``Channel.TWILIO_VOICE`` as calls Twilio places; returns the CallSid."""

    channel = Channel.TWILIO_VOICE

    def __init__(self, settings: TwilioVoiceSettings, http: aiohttp.ClientSession,
                 signer: Signer) -> None:
        self.settings, self.http = settings, http
        self.flow = OutcallFlow(settings, signer)

    async def deliver(self, notice: Notice) -> str:
        try:
            to = normalise_phone(notice.address, field="address")
        except InvalidInput as exc:
            raise SendError(str(exc), retryable=False, code="invalid_address") from exc
        twiml = self.flow.message(notice.notice_id, call_text(notice),
                                  rating=notice.kind == RATING_REQUEST)
        data = {"To": to, "From": self.settings.outbound_from, "Twiml": twiml,
                "StatusCallback": self.flow.status_url(notice.notice_id),
                "StatusCallbackMethod": "POST", "Timeout": str(self.settings.outbound_ring_s)}
        try:
            async with self.http.post(self.settings.calls_url, data=data,
                                      headers=self.settings.auth_header()) as resp:
                payload = await resp.json(content_type=None)
                status = resp.status
        except TimeoutError as exc:
            raise SendError("Twilio API timed out", retryable=True, code="timeout") from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise SendError(f"Twilio API unreachable: {exc}", retryable=True,
                            code="unreachable") from exc
        body = payload if isinstance(payload, dict) else {}
        if status >= 400:
            code = str(body.get("code") or f"http_{status}")
            raise SendError(f"Twilio API HTTP {status} (code {code}): {body.get('message', '')}",
                            retryable=status == 429 or status >= 500, code=code)
        sid = str(body.get("sid") or "")
        if not sid:  # accepted, but we cannot tell which call: trying again could ring twice
            raise SendError("Twilio answered without a CallSid", retryable=False, code="no_sid")
        return sid


def add_outcall_routes(app: web.Application, settings: TwilioVoiceSettings,
                       ports: ChannelPorts) -> None:
    """The two webhooks of outbound calls (beside the inbound ones)."""
    flow = OutcallFlow(settings, ports.signer)

    async def verified(request: web.Request) -> tuple[int, dict[str, str]]:
        form = await verified_form(request, token=settings.token,
                                   public_base_url=settings.public_base_url,
                                   account_sid=settings.account_sid)
        raw = request.query.get("notice", "")
        if not (raw.isascii() and raw.isdigit()) or not ports.signer.verify(
                SIGN_PURPOSE, raw, request.query.get("sig", "")):
            raise web.HTTPForbidden(text="not a call we placed")
        return int(raw), dict(form)

    async def step(request: web.Request) -> web.Response:
        notice_id, form = await verified(request)
        name, digits = request.query.get("step", ""), form.get("Digits", "")
        raw_play, text = request.query.get("play", "1"), request.query.get("text", "")
        play = int(raw_play) if raw_play.isascii() and raw_play.isdigit() else MAX_PLAYS
        try:
            if name == "heard":
                await ports.record_status(str(notice_id), "delivered", None)
                return _twiml(flow.offer_replay(notice_id, play, text))
            if name == "again" and digits == "1" and text and play < MAX_PLAYS:
                return _twiml(flow.message(notice_id, text, rating=False, play=play + 1))
            if name == "rated":
                return _twiml(await _rated(ports, flow, notice_id, digits, form.get("To", "")))
        except TryLater:
            return web.Response(status=503)
        return _twiml(flow.goodbye())

    async def status(request: web.Request) -> web.Response:
        notice_id, form = await verified(request)
        word = CALL_END_WORDS.get(form.get("CallStatus", "").lower())
        if word is not None:
            try:
                await ports.record_status(str(notice_id), word, form.get("ErrorCode") or None)
            except TryLater:
                return web.Response(status=503)  # Twilio retries the callback
        return web.Response(status=204)

    app.router.add_post(OUTCALL_PATH, step)
    app.router.add_post(OUTCALL_STATUS_PATH, status)



async def _rated(ports: ChannelPorts, flow: OutcallFlow, notice_id: int, digits: str,
                 called: str) -> str:
    """A key in the 回访 menu: 1–3 is the rating (as an SMS reply), anything else is asked once."""
    if digits not in RATING_KEYS:
        return flow.goodbye(WRONG_KEY + GOODBYE)
    try:
        number = normalise_phone(called)
    except InvalidInput:
        return flow.goodbye()
    taken = await ports.commands.rate(int(digits), number, channel=Channel.TWILIO_VOICE,
                                      in_reply=True)
    if taken.taken:
        await ports.record_status(str(notice_id), "delivered", None)
    return flow.goodbye(THANKS)


def _twiml(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/xml")
