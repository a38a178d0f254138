"""Sending SMS through the modem: split, pace, retry, and say which failures are final.

A notice in Chinese becomes concatenated UCS-2 parts of 67 characters
(``gammu.EncodeSMS``); text that fits the GSM 7-bit alphabet uses 153-character
parts. A real modem manages about ten messages a minute, so every part waits
for a token from one bucket (keyword replies are outbox notices too).

Transient errors (timeouts, a busy or vanished modem) are retried a few times
here; if they persist the outbox is told to retry later
(``SendError(retryable=True)``). Errors about the message itself (an unknown
number format, data the modem rejects) are final (``retryable=False``).
When a long notice fails half-way, the parts already sent are remembered per
notice id, so the outbox's retry sends only the rest instead of repeating them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import gammu

from channels.sms_gammu.modem import ModemPort, ModemThread, ModemUnavailable
from contract.envelope import Channel
from contract.normalise import InvalidInput, clean_text, mask_phone, normalise_phone
from contract.notice import Notice, SendError

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# GSM 03.38 default alphabet and its extension table (escape + char).
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    "^{}\\[~]|€\f"
)

# Gammu errors that say the message or number is wrong; retrying cannot help.
PERMANENT_ERRORS = frozenset({
    "ERR_UNKNOWN", "ERR_INVALIDDATA", "ERR_NOTSUPPORTED", "ERR_NOTIMPLEMENTED",
    "ERR_BADFEATURE",
})

_MAX_REMEMBERED = 1000
MAX_PARTS = 255
"""A concatenated SMS has at most 255 parts (the UDH's part count is one byte)."""


def fits_gsm7(text: str) -> bool:
    """True when the text needs no UCS-2 (so each part can hold 153 characters)."""
    return all(c in _GSM7 for c in text)


def encode_text(text: str, number: str) -> list[dict[str, Any]]:
    """Split ``text`` into ready-to-send Gammu SMS dicts for ``number``."""
    parts: list[dict[str, Any]] = gammu.EncodeSMS({
        "Class": -1,
        "Unicode": not fits_gsm7(text),
        "Entries": [{"ID": "ConcatenatedTextLong", "Buffer": text}],
    })
    for part in parts:
        part["Number"] = number
        part["SMSC"] = {"Location": 1}  # the SMSC stored on the SIM
    return parts


def send_error_for(exc: gammu.GSMError) -> SendError:
    """Map a Gammu error to the outbox's retry decision."""
    name = type(exc).__name__
    detail = exc.args[0].get("Text", str(exc)) if exc.args and isinstance(exc.args[0], dict) \
        else str(exc)
    return SendError(f"modem refused the SMS: {detail}",
                     retryable=name not in PERMANENT_ERRORS, code=name.lower())


class TokenBucket:
    """At most ``rate_per_minute`` sends a minute, with a burst of ``burst``."""

    def __init__(self, rate_per_minute: float, *, burst: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self._interval = 60.0 / rate_per_minute
        self._burst = burst
        self._tokens = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._last = monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until a send is allowed, then take it."""
        async with self._lock:
            while True:
                now = self._monotonic()
                self._tokens = min(self._burst,
                                   self._tokens + (now - self._last) / self._interval)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await self._sleep((1.0 - self._tokens) * self._interval)


class GammuDeliverer:
    """The outbound adapter for ``Channel.SMS_MODEM``."""

    channel = Channel.SMS_MODEM

    def __init__(self, modem: ModemThread, *, bucket: TokenBucket, attempts: int = 3,
                 retry_delay_s: float = 5.0, sleep: Sleep = asyncio.sleep) -> None:
        self._modem = modem
        self._bucket = bucket
        self._attempts = attempts
        self._retry_delay = retry_delay_s
        self._sleep = sleep
        # notice id -> (text, encoded parts, references of the parts already sent)
        self._progress: OrderedDict[int, tuple[str, list[dict[str, Any]], list[int]]] = \
            OrderedDict()

    async def deliver(self, notice: Notice) -> str:
        """Send a notice; returns the parts' references, comma-separated."""
        try:
            number = normalise_phone(notice.address, field="address")
        except InvalidInput as exc:
            raise SendError(str(exc), retryable=False, code="bad_address") from exc
        return await self.send_text(number, notice.text, progress_key=notice.notice_id)

    async def send_text(self, number: str, text: str, *, progress_key: int | None = None) -> str:
        """Send ``text`` to an E.164 ``number`` (every SMS, keyword replies too, is a notice)."""
        try:
            body = clean_text(text, field="text", max_chars=MAX_PARTS * 67)
        except InvalidInput as exc:
            raise SendError(str(exc), retryable=False, code="bad_text") from exc
        remembered = self._progress.get(progress_key) if progress_key is not None else None
        if remembered is not None and remembered[0] == body:
            _, parts, refs = remembered
        else:
            parts, refs = encode_text(body, number), []
        try:
            for part in parts[len(refs):]:
                refs.append(await self._send_part(part))
        except SendError as exc:
            if progress_key is not None:
                if exc.retryable:
                    self._remember(progress_key, (body, parts, refs))
                else:
                    self._progress.pop(progress_key, None)
            raise
        if progress_key is not None:
            self._progress.pop(progress_key, None)
        log.info("sms: sent %d part(s) to %s", len(parts), mask_phone(number))
        return ",".join(str(r) for r in refs)

    def _remember(self, key: int, value: tuple[str, list[dict[str, Any]], list[int]]) -> None:
        self._progress[key] = value
        self._progress.move_to_end(key)
        while len(self._progress) > _MAX_REMEMBERED:
            self._progress.popitem(last=False)

    async def _send_part(self, part: dict[str, Any]) -> int:
        def send(port: ModemPort) -> int:
            return port.send(dict(part))

        error = SendError("not sent", retryable=True, code="not_sent")
        for attempt in range(1, self._attempts + 1):
            await self._bucket.acquire()
            try:
                return await self._modem.call(send)
            except ModemUnavailable as exc:
                error = SendError(str(exc), retryable=True, code="modem_unavailable")
            except gammu.GSMError as exc:
                error = send_error_for(exc)
                if not error.retryable:
                    raise error from exc
            if attempt < self._attempts:
                await self._sleep(self._retry_delay * attempt)
        raise error
