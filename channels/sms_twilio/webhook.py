"""The two endpoints Twilio calls: inbound SMS and delivery status. Thin on purpose.

``POST /channels/twilio/sms``: verify ``X-Twilio-Signature`` over the public
URL (403 otherwise), turn the form into an ``InboundSms``, let
``handling.process`` decide, answer TwiML. The TwiML carrying the case number
goes out only after the sink returned, i.e. after commit; a replay of the same
``MessageSid`` gets the same words because the sink answers with the same case.
``TryLater`` gives 503 with an empty body: Twilio does not retry an SMS
webhook, so the reconciliation job is what recovers the message.

``POST /channels/twilio/status``: the ``StatusCallback`` of our sends, also
signed. Terminal states (delivered / undelivered / failed) go to the
``StatusRecorder`` the lead implements over the outbox.

Twilio's webhook contract: https://www.twilio.com/docs/messaging/guides/webhook-request
and https://www.twilio.com/docs/usage/webhooks/webhooks-security.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from multidict import MultiDict

from channels.sms_twilio.settings import TwilioSettings
from contract.envelope import Sink, TryLater
from contract.sms_keywords import SmsCommands
from contract.twilio_signature import BadForm, verified_form

from .handling import process
from .inbound import (
    Now,
    sms_from_form,
    twiml,
    utc_now,
)
from .media import MediaFetcher
from .reconcile import reconcile_job, state_path

log = logging.getLogger(__name__)

SMS_PATH = "/channels/twilio/sms"
STATUS_PATH = "/channels/twilio/status"
TERMINAL_STATUSES = frozenset({"delivered", "undelivered", "failed"})

StatusRecorder = Callable[[str, str, str | None], Awaitable[None]]
"""``(notice_ref_or_sid, status, error_code)``: record a send's final state on its notice.

The first argument is the notice id (decimal, from our ``?notice=`` callback
parameter) when present, else the Twilio MessageSid (``SM…``/``MM…``).
May raise ``TryLater``; the callback is then answered 503."""

@dataclass(slots=True)
class _Runtime:
    settings: TwilioSettings
    sink: Sink
    commands: SmsCommands
    status_recorder: StatusRecorder
    clock: Now
    media: MediaFetcher | None = None


RUNTIME_KEY = web.AppKey("twilio_sms_runtime", _Runtime)
HTTP_KEY = web.AppKey("twilio_http", aiohttp.ClientSession)


@asynccontextmanager
async def twilio_http(settings: TwilioSettings) -> AsyncIterator[aiohttp.ClientSession]:
    """The one client session for Twilio's REST API and media (sends, listings, downloads)."""
    timeout = aiohttp.ClientTimeout(total=settings.request_timeout_s)
    async with aiohttp.ClientSession(timeout=timeout, raise_for_status=False) as session:
        yield session


def add_twilio_routes(app: web.Application, *, settings: TwilioSettings, sink: Sink,
                      commands: SmsCommands, status_recorder: StatusRecorder,
                      clock: Now = utc_now, data_dir: Path | None = None,
                      reconcile: bool = True) -> None:
    """Mount both webhooks on ``app`` and own the HTTP session (and, by default, reconciliation).

    ``data_dir`` locates the reconciliation state when ``settings.state_dir`` is
    empty. Pass ``reconcile=False`` on web workers when a separate process runs
    ``reconcile_job`` (it is harmless but wasteful to run it in every worker).
    """
    runtime = _Runtime(settings, sink, commands, status_recorder, clock)
    app[RUNTIME_KEY] = runtime

    async def _ctx(app: web.Application) -> AsyncIterator[None]:
        async with twilio_http(settings) as http:
            app[HTTP_KEY] = http
            runtime.media = MediaFetcher(settings, http)
            if not reconcile:
                yield
                return
            async with reconcile_job(settings, sink=sink, commands=commands, http=http,
                                     path=state_path(settings, data_dir), clock=clock):
                yield

    app.cleanup_ctx.append(_ctx)
    app.router.add_post(SMS_PATH, handle_sms)
    app.router.add_post(STATUS_PATH, handle_status)


async def _verified_form(request: web.Request, settings: TwilioSettings) -> MultiDict[str]:
    """The request's form, once its signature matches; 400 / 403 otherwise."""
    return await verified_form(request, token=settings.token,
                               public_base_url=settings.public_base_url,
                               account_sid=settings.account_sid)


async def handle_sms(request: web.Request) -> web.Response:
    """Inbound SMS webhook: register (or answer a keyword) and reply in TwiML."""
    runtime = request.app[RUNTIME_KEY]
    form = await _verified_form(request, runtime.settings)
    try:
        sms = sms_from_form(form, received_at=runtime.clock(),
                            max_media=runtime.settings.media_max_count)
    except BadForm as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    if runtime.media is None:  # routes mounted, but the app's cleanup_ctx never ran
        raise web.HTTPServiceUnavailable()
    try:
        outcome = await process(sms, sink=runtime.sink, commands=runtime.commands,
                                media=runtime.media)
    except TryLater:
        log.warning("twilio: store unavailable for %s, answered 503 (reconcile recovers)",
                    sms.sid)
        return web.Response(status=503, text="")
    log.info("twilio: %s %s", sms.sid, outcome.kind)
    return web.Response(text=twiml(outcome.reply), content_type="application/xml")


async def handle_status(request: web.Request) -> web.Response:
    """StatusCallback of our sends: pass terminal states to the status recorder."""
    runtime = request.app[RUNTIME_KEY]
    form = await _verified_form(request, runtime.settings)
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or not status:
        raise web.HTTPBadRequest(text="MessageSid and MessageStatus are required")
    if status not in TERMINAL_STATUSES:
        return web.Response(status=204)
    ref = request.query.get("notice") or sid
    try:
        await runtime.status_recorder(ref, status, form.get("ErrorCode") or None)
    except TryLater:
        return web.Response(status=503, text="")
    return web.Response(status=204)
