"""Notices out as plain-text UTF-8 email through the site's SMTP relay.

The message is built by pure functions (``compose``, ``recipient``,
``one_line``) and sent with the stdlib ``smtplib`` in a worker thread, so no
blocking call runs in the event loop. One connection per notice: replies by
email are a small share of the traffic, and a fresh connection cannot carry a
broken state from the previous send.

Errors are typed for the outbox (``SendError.retryable``): a refused or timed
out connection and any 4xx reply (451 greylisting, 452 full queue) can pass
later; a 5xx reply (550 unknown user, 554 rejected) and an unusable address
will not, so the outbox falls back to another contact at once.
SMTP reply codes: https://www.rfc-editor.org/rfc/rfc5321#section-4.2
"""

from __future__ import annotations

import asyncio
import email.policy
import logging
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from channels.email_smtp.settings import EmailSettings
from contract.envelope import Channel
from contract.notice import Notice, SendError
from contract.smtp_client import Relay, send

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_ADDRESS = re.compile(r"^[^@\s,;<>()\[\]\"\\]+@[^@\s,;<>()\[\]\"\\]+\.[^@\s,;<>()\[\]\"\\]+$")
MAX_SUBJECT_CHARS = 200


def _utcnow() -> datetime:
    return datetime.now(UTC)


def one_line(value: str, *, limit: int = MAX_SUBJECT_CHARS) -> str:
    """Header text as one harmless line: CR, LF and other controls become spaces (no injection)."""
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", value)).strip()
    return re.sub(r"\s{2,}", " ", text)[:limit]


def recipient(address: str) -> str:
    """The one mailbox a notice goes to; ``SendError(retryable=False)`` when it is not one.

    Refuses lists, display names and anything with line breaks rather than
    cleaning them: a notice for one citizen must never reach a second address.
    """
    value = address.strip()
    if not _ADDRESS.match(value):
        raise SendError(f"not a single email address: {one_line(address, limit=80)!r}",
                        retryable=False, code="bad_address")
    return value


def subject_for(notice: Notice) -> str:
    """The notice's own subject, else the hotline's standard one with the case number."""
    return one_line(notice.subject) or one_line(f"【12345】案件 {notice.case_number}")


def compose(notice: Notice, settings: EmailSettings, *, now: datetime) -> EmailMessage:
    """The email for ``notice``: plain UTF-8 text, the case number in a header, auto-submitted."""
    to = recipient(notice.address)
    domain = settings.from_address.rpartition("@")[2]
    message = EmailMessage(policy=email.policy.SMTP)
    local, _, _ = settings.from_address.rpartition("@")
    message["From"] = Address(one_line(settings.from_name), local, domain)
    message["To"] = to
    message["Subject"] = subject_for(notice)
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = make_msgid(idstring=f"notice{notice.notice_id}", domain=domain)
    # RFC 3834: mail from a machine; vacation responders must not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Hotline-Case"] = one_line(notice.case_number, limit=60)
    message.set_content(notice.text.rstrip() + "\n", charset="utf-8")
    for attachment in notice.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.data, maintype=maintype or "application",
                               subtype=subtype or "octet-stream",
                               filename=one_line(attachment.filename, limit=120))
    return message


class EmailDeliverer:
    """Outbound adapter for ``Channel.EMAIL``; ``deliver`` returns the Message-ID."""

    channel = Channel.EMAIL

    def __init__(self, settings: EmailSettings, *,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self._settings = settings
        self._clock = clock

    async def deliver(self, notice: Notice) -> str:
        """Send one notice; the relay has accepted it (250) when this returns."""
        message = compose(notice, self._settings, now=self._clock())
        to = str(message["To"])
        await asyncio.to_thread(self._send, message, to)
        reference = str(message["Message-ID"])
        log.info("email for %s accepted by the relay: %s", notice.case_number, reference)
        return reference

    def _send(self, message: EmailMessage, to: str) -> None:
        s = self._settings
        relay = Relay(s.smtp_host, s.smtp_port, s.timeout_s, starttls=s.starttls,
                      username=s.username, password=s.password.get_secret_value(),
                      name="mail relay")
        send(relay, message, from_addr=s.from_address, to=to)
