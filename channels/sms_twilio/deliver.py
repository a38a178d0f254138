"""Outbound SMS through Twilio's REST API, with a signed status callback per notice.

``TwilioDeliverer.deliver(notice)`` creates the message and returns its SID;
Twilio later calls ``/channels/twilio/status?notice=<id>`` with the final
state, which ``webhook.handle_status`` hands to the lead's status recorder.
Putting the notice id in the callback URL means the recorder needs no SID
lookup (and works for notices sent in several parts).

Errors are typed for the outbox: throttling (429), Twilio's 5xx, a refused
connection or a timeout are ``SendError(retryable=True)``; a request Twilio
refuses (400 with code 21211 "invalid To", 21610 "recipient unsubscribed",
401 bad credentials…) is ``retryable=False`` with Twilio's code.
Error codes: https://www.twilio.com/docs/api/errors
"""

from __future__ import annotations

import aiohttp

from channels.sms_twilio.settings import TwilioSettings
from contract.envelope import Channel
from contract.normalise import InvalidInput, normalise_phone
from contract.notice import Notice, SendError

from .api import TwilioApiError, request_json
from .webhook import STATUS_PATH

MAX_BODY_CHARS = 1600
"""Twilio refuses longer bodies (error 21617); longer notices go in several messages."""


def split_body(text: str, *, limit: int = MAX_BODY_CHARS) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` characters, at a line end where one is near."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind("\n", limit // 2, limit)
        cut = limit if cut == -1 else cut
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


class TwilioDeliverer:
    """Send notices as SMS from our Twilio number; returns the Message SID(s)."""

    channel = Channel.SMS_TWILIO

    def __init__(self, settings: TwilioSettings, http: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._http = http

    def status_callback(self, notice: Notice) -> str:
        """The URL Twilio reports this notice's delivery to (signed, like the webhook)."""
        return f"{self._settings.public_base_url}{STATUS_PATH}?notice={notice.notice_id}"

    async def deliver(self, notice: Notice) -> str:
        """Create the message(s); the SID, or several joined by commas for a long notice."""
        try:
            to = normalise_phone(notice.address, field="address")
        except InvalidInput as exc:
            raise SendError(str(exc), retryable=False, code="invalid_address") from exc
        parts = split_body(notice.text)
        if not parts:
            raise SendError("notice has no text", retryable=False, code="empty")
        sids = [await self._send(to, part, notice) for part in parts]
        return ",".join(sids)

    async def _send(self, to: str, body: str, notice: Notice) -> str:
        data = {"To": to, "From": self._settings.phone_number, "Body": body,
                "StatusCallback": self.status_callback(notice)}
        try:
            created = await request_json(self._http, self._settings, "POST",
                                         self._settings.messages_url, data=data)
        except TwilioApiError as exc:
            code = exc.code or ("throttled" if exc.status == 429 else f"http_{exc.status}")
            raise SendError(str(exc), retryable=exc.retryable, code=code) from exc
        except TimeoutError as exc:
            raise SendError("Twilio API timed out", retryable=True, code="timeout") from exc
        except aiohttp.ClientError as exc:
            raise SendError(f"Twilio API unreachable: {exc}", retryable=True,
                            code="unreachable") from exc
        sid = str(created.get("sid") or "")
        if not sid:
            # Something was accepted but we cannot tell what: retrying could send twice.
            raise SendError("Twilio answered without a message SID", retryable=False,
                            code="no_sid")
        return sid
