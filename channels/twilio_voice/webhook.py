"""The three endpoints Twilio Voice calls for inbound calls (outbound ones: ``outbound.py``).

``POST /channels/twilio/voice``: every TwiML step of a call. The first request
of a call (no ``step``) opens its call record and answers the menu; later
requests carry ``step`` in the query (menu, case, recorded, dialled), which
is part of the signed URL, so a caller cannot skip a step by forging one.

``POST /channels/twilio/voice/status``: the call's status callback closes its
record. ``POST /channels/twilio/voice/recording``: the recording status
callback; its URL carries our own signature of the CallSid besides Twilio's
signature of the request, so only a recording we asked for, on that call,
becomes a case.

Every request is verified like the SMS webhook (``contract.twilio_signature``):
403 when forged. Parameters we do not use are ignored; a CallSid we have no
record of is answered 204 (nothing to do), never 500.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from multidict import MultiDict

from channels.twilio_voice.calls import FINAL_STATUSES, RECORDING_SID, CallStore, valid_call_sid
from channels.twilio_voice.outbound import add_outcall_routes
from channels.twilio_voice.settings import TwilioVoiceSettings
from channels.twilio_voice.twiml import (
    BAD_CASE,
    GOODBYE,
    NO_AGENT,
    RECORDED,
    RECORDING_PATH,
    STATUS_PATH,
    VOICE_PATH,
    WRONG_KEY,
    Choice,
    Flow,
    case_number,
    choice,
    spoken,
)
from channels.twilio_voice.voicemail import RecordingUnavailable, fetch_recording, voicemail_envelope
from contract.channel import ChannelPorts
from contract.envelope import Channel, TryLater
from contract.normalise import InvalidInput, normalise_phone
from contract.twilio_signature import verified_form

log = logging.getLogger(__name__)

SIGN_PURPOSE = "twilio-voice-recording"
BUSY_LOOKUP = "系统繁忙，请稍后再查询。"


@dataclass(slots=True)
class _Runtime:
    settings: TwilioVoiceSettings
    ports: ChannelPorts
    calls: CallStore
    flow: Flow
    http: aiohttp.ClientSession | None = field(default=None)


RUNTIME = web.AppKey("twilio_voice_runtime", _Runtime)


def state_dir(settings: TwilioVoiceSettings, data_dir: Path) -> Path:
    """Where call records live."""
    return Path(settings.state_dir) if settings.state_dir else data_dir / "twilio_voice"


def add_voice_routes(app: web.Application, settings: TwilioVoiceSettings,
                     ports: ChannelPorts) -> None:
    """Mount the three webhooks (and the outbound calls' two, ``outbound.py``) and own the HTTP
    session for recording downloads."""
    runtime = _Runtime(settings, ports, CallStore(state_dir(settings, ports.data_dir) / "calls"),
                       Flow(settings))
    app[RUNTIME] = runtime

    async def _http(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=settings.request_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            runtime.http = session
            yield

    app.cleanup_ctx.append(_http)
    app.router.add_post(VOICE_PATH, handle_voice)
    app.router.add_post(STATUS_PATH, handle_status)
    app.router.add_post(RECORDING_PATH, handle_recording)
    add_outcall_routes(app, settings, ports)


async def _form(request: web.Request) -> tuple[_Runtime, MultiDict[str]]:
    runtime = request.app[RUNTIME]
    settings = runtime.settings
    form = await verified_form(request, token=settings.token,
                               public_base_url=settings.public_base_url,
                               account_sid=settings.account_sid)
    return runtime, form


def _twiml(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/xml")


def _attempt(raw: str, repeats: int) -> int:
    return int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= repeats + 1 else 1


async def handle_voice(request: web.Request) -> web.Response:
    """Every step of a call's menu, answered in TwiML."""
    runtime, form = await _form(request)
    call_sid = form.get("CallSid", "")
    if not valid_call_sid(call_sid):
        raise web.HTTPBadRequest(text="CallSid missing or malformed")
    flow, settings, now = runtime.flow, runtime.settings, runtime.ports.clock.now()
    record = await runtime.calls.open(call_sid, caller=form.get("From", ""),
                                      called=form.get("To", ""), now=now)
    step, digits = request.query.get("step", ""), form.get("Digits", "")
    attempt = _attempt(request.query.get("attempt", ""), settings.menu_repeats)
    if step == "menu":
        if digits:
            record = await runtime.calls.update(record, choices=(*record.choices, digits[:20]))
        picked = choice(digits) if digits else None
        if picked is Choice.RECORD:
            return _twiml(flow.record(call_sid, runtime.ports.signer.sign(SIGN_PURPOSE, call_sid)))
        if picked is Choice.LOOKUP:
            return _twiml(flow.ask_case())
        if picked is Choice.AGENT:
            return _twiml(await _agent(runtime, record.caller, call_sid))
        if attempt >= settings.menu_repeats and digits:
            return _twiml(flow.goodbye(WRONG_KEY + GOODBYE))
        if attempt > settings.menu_repeats:
            return _twiml(flow.goodbye())
        return _twiml(flow.menu(attempt + 1 if digits else attempt,
                                before=WRONG_KEY if digits else ""))
    if step == "case":
        return _twiml(flow.menu(1, before=await _lookup(runtime, record.caller, digits)))
    if step == "recorded":
        return _twiml(flow.goodbye(RECORDED))
    if step == "dialled":
        if form.get("DialCallStatus", "") in ("completed", "answered"):
            return _twiml(flow.goodbye())
        return _twiml(flow.record(call_sid, runtime.ports.signer.sign(SIGN_PURPOSE, call_sid),
                                  before=NO_AGENT))
    return _twiml(flow.menu(1))


async def _agent(runtime: _Runtime, caller: str, call_sid: str) -> str:
    """0: pop the call on the agents' consoles and dial them; no agents configured: voicemail."""
    if not runtime.settings.agent:
        return runtime.flow.record(call_sid, runtime.ports.signer.sign(SIGN_PURPOSE, call_sid),
                                   before=NO_AGENT)
    try:
        await runtime.ports.announce(normalise_phone(caller))
    except InvalidInput:
        await runtime.ports.announce(caller or "anonymous")
    return runtime.flow.dial_agent()


async def _lookup(runtime: _Runtime, caller: str, digits: str) -> str:
    """2: a case's status, told only to the number that filed it (as the SMS ``CX`` answer)."""
    number = case_number(digits, runtime.settings.case_prefix)
    if number is None:
        return BAD_CASE
    try:
        phone = normalise_phone(caller)
    except InvalidInput:
        phone = ""
    try:
        return spoken(await runtime.ports.commands.case_status(
            number, phone, channel=Channel.TWILIO_VOICE, in_reply=True) or "")
    except TryLater:
        return BUSY_LOOKUP


async def handle_status(request: web.Request) -> web.Response:
    """The call's status callback: a final status closes its record; anything else is noted."""
    runtime, form = await _form(request)
    call_sid, status = form.get("CallSid", ""), form.get("CallStatus", "").lower()
    if valid_call_sid(call_sid) and status in FINAL_STATUSES:
        duration = form.get("CallDuration", "")
        closed = await runtime.calls.close(
            call_sid, status=status, now=runtime.ports.clock.now(),
            duration_s=int(duration) if duration.isascii() and duration.isdigit() else None)
        if closed is None:
            log.info("twilio voice: status %s for a call we never answered (%s)", status, call_sid)
    return web.Response(status=204)


async def handle_recording(request: web.Request) -> web.Response:
    """The recording callback: fetch the WAV and register the voicemail, once per call."""
    runtime, form = await _form(request)
    call_sid = request.query.get("call", "")
    if form.get("CallSid", "") != call_sid or not runtime.ports.signer.verify(
            SIGN_PURPOSE, call_sid, request.query.get("sig", "")):
        raise web.HTTPForbidden(text="not a recording callback we asked for")
    record = await runtime.calls.get(call_sid) if valid_call_sid(call_sid) else None
    if record is None or record.case_number:  # unknown call, or its voicemail is registered
        return web.Response(status=204)
    duration = form.get("RecordingDuration", "")
    seconds = int(duration) if duration.isascii() and duration.isdigit() else 0
    recording_sid, status = form.get("RecordingSid", ""), form.get("RecordingStatus", "")
    if (status != "completed" or seconds < runtime.settings.min_recording_s
            or not RECORDING_SID.match(recording_sid)):
        # Absent (silence, a hang-up at the beep) or too short: no case, only a note.
        await runtime.calls.update(record, notes=(*record.notes, f"no voicemail: {status} {seconds} s"))
        return web.Response(status=204)
    if runtime.http is None:  # routes mounted, but the app's cleanup_ctx never ran
        raise web.HTTPServiceUnavailable()
    try:
        wav = await fetch_recording(runtime.http, runtime.settings, recording_sid)
    except (RecordingUnavailable, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("twilio voice: recording %s of %s not fetched: %s", recording_sid, call_sid, exc)
        if isinstance(exc, RecordingUnavailable) and not exc.retryable:
            return web.Response(status=204)
        return web.Response(status=503)
    if wav is None:
        return web.Response(status=204)
    envelope = voicemail_envelope(record, recording_sid=recording_sid, seconds=seconds, wav=wav,
                                  received_at=runtime.ports.clock.now())
    try:
        receipt = await runtime.ports.sink(envelope)
    except TryLater:
        log.warning("twilio voice: store unavailable for the voicemail of %s", call_sid)
        return web.Response(status=503)
    await runtime.calls.update(record, recording_sid=recording_sid, case_number=receipt.case_number)
    log.info("twilio voice: voicemail of %s registered as %s", call_sid, receipt.case_number)
    return web.Response(status=204)
