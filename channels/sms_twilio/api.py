"""The little of Twilio's REST API we use, over our own aiohttp session.

Why not the ``twilio`` client's async API: ``AsyncTwilioHttpClient`` makes its
own ``ClientSession`` (and wraps it in ``aiohttp_retry``), while the channel
already owns one session for media downloads, shared by sends and listings and
closed by its ``cleanup_ctx``. We need three calls (create a message, list
messages, list a message's media); doing them directly keeps one session, one
timeout policy, explicit paging and error types we map to ``SendError``
ourselves. Twilio's library is still used where it is the reference: signature
validation and TwiML.

API reference: https://www.twilio.com/docs/messaging/api/message-resource
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from channels.sms_twilio.settings import TwilioSettings


class TwilioApiError(Exception):
    """The REST API answered an error; ``code`` is Twilio's error code when it gave one."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"Twilio API HTTP {status} (code {code or '-'}): {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        """Throttling and server errors pass; a refused request stays refused."""
        return self.status == 429 or self.status >= 500


def auth_headers(settings: TwilioSettings) -> dict[str, str]:
    """HTTP basic auth with the account SID and token (aiohttp drops it on a cross-host redirect).

    Built by hand: ``aiohttp.BasicAuth`` is deprecated from 3.14 and its
    replacement does not exist in the 3.9 the project still supports.
    """
    pair = f"{settings.account_sid}:{settings.token}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def absolute(settings: TwilioSettings, uri: str) -> str:
    """Twilio returns paths (``/2010-04-01/…``); make them URLs on the configured root."""
    return settings.api_base_url + uri if uri.startswith("/") else uri


async def request_json(http: aiohttp.ClientSession, settings: TwilioSettings, method: str,
                       url: str, *, params: dict[str, str] | None = None,
                       data: dict[str, str] | None = None) -> dict[str, Any]:
    """One authenticated call; the JSON object back, or ``TwilioApiError``.

    Connection failures and timeouts propagate as ``aiohttp.ClientError`` /
    ``TimeoutError``: the callers decide what they mean.
    """
    async with http.request(method, url, params=params, data=data,
                            headers=auth_headers(settings)) as resp:
        try:
            payload: Any = await resp.json(content_type=None)
        except ValueError:
            payload = None
        if resp.status >= 400:
            body = payload if isinstance(payload, dict) else {}
            raise TwilioApiError(resp.status, str(body.get("code") or ""),
                                 str(body.get("message") or resp.reason or ""))
        if not isinstance(payload, dict):
            raise TwilioApiError(resp.status, "", "answer is not a JSON object")
        return payload
