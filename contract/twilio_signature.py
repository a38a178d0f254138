"""Twilio's webhook signature and form body, shared by every channel Twilio calls.

Twilio signs each webhook with ``X-Twilio-Signature``: HMAC-SHA1, under the
account's auth token, of the URL it called followed by the sorted form fields
(https://www.twilio.com/docs/usage/webhooks/webhooks-security). The SMS and the
voice channel both refuse a request whose signature does not match (403), so
the check lives here, once, rather than in one channel folder that the other
may not import.

The form body is percent-decoded with ``surrogateescape``, not aiohttp's
``errors="replace"``: a message whose UCS-2 was broken reaches us as bytes that
are not UTF-8, and the signature is computed over those exact bytes.
"""

from __future__ import annotations

import base64
import hmac
import logging
from hashlib import sha1
from urllib.parse import parse_qsl, urlparse

from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator, add_port, remove_port

log = logging.getLogger(__name__)

MAX_FORM_FIELDS = 200
SIGNATURE_HEADER = "X-Twilio-Signature"


class BadForm(ValueError):
    """The request is not a Twilio webhook we can use (answered 400)."""


def parse_form_body(raw: bytes) -> MultiDict[str]:
    """Decode an ``application/x-www-form-urlencoded`` body, keeping undecodable bytes."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        # Not percent-encoded as it should be; keep the bytes recoverable anyway.
        text = raw.decode("utf-8", "surrogateescape")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                          encoding="utf-8", errors="surrogateescape",
                          max_num_fields=MAX_FORM_FIELDS)
    except ValueError as exc:
        raise BadForm(f"unreadable form: {exc}") from exc
    return MultiDict(pairs)


def signature_valid(token: str, url: str, form: MultiDict[str], header: str) -> bool:
    """True when ``X-Twilio-Signature`` matches ``url`` and the form under our token.

    Uses Twilio's ``RequestValidator`` (which also tries the URL with and without
    an explicit port). When a value holds undecodable bytes the validator cannot
    encode it, so the same algorithm runs here over the original bytes.
    """
    if not header or not token:
        return False
    try:
        return bool(RequestValidator(token).validate(url, form, header))
    except UnicodeEncodeError:
        parsed = urlparse(url)
        return any(hmac.compare_digest(_raw_signature(token, candidate, form), header)
                   for candidate in (remove_port(parsed), add_port(parsed)))


def _raw_signature(token: str, url: str, form: MultiDict[str]) -> str:
    data = url.encode("utf-8")
    for name in sorted(set(form)):
        for value in sorted(set(form.getall(name))):
            data += (name + value).encode("utf-8", "surrogateescape")
    mac = hmac.new(token.encode("utf-8"), data, sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


async def verified_form(request: web.Request, *, token: str, public_base_url: str,
                        account_sid: str) -> MultiDict[str]:
    """The request's form once its signature matches: 400 when unreadable, 403 when forged.

    Twilio signs the URL it called: our public base plus the path and query as
    sent, never the URL a proxy hands us. A form naming another account is
    refused too, though correctly signed: it was meant for someone else.
    """
    try:
        form = parse_form_body(await request.read())
    except BadForm as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    url = public_base_url + request.raw_path
    if not signature_valid(token, url, form, request.headers.get(SIGNATURE_HEADER, "")):
        log.warning("twilio: refused request with bad signature from %s", request.remote)
        raise web.HTTPForbidden(text="invalid X-Twilio-Signature")
    if form.get("AccountSid", account_sid) != account_sid:
        raise web.HTTPForbidden(text="not our account")
    return form
