"""Fax replies out: render the notice to PDF/TIFF and mail it to an email-to-fax gateway.

The gateway turns ``{number}@fax.example`` into a fax call. The send is the
stdlib ``smtplib`` in a worker thread (no blocking call in the event loop).
Errors are typed for the outbox: connection failures and 4xx replies are
retryable, 5xx replies and an unusable address are not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from zoneinfo import ZoneInfo

import phonenumbers

from channels.fax_smtp.parse import one_line
from channels.fax_smtp.render import FaxReply, find_cjk_font, render_pdf, render_tiff
from channels.fax_smtp.settings import FaxSettings
from contract.envelope import Channel
from contract.normalise import InvalidInput, normalise_phone
from contract.notice import Notice, SendError
from contract.smtp_client import Relay, send

log = logging.getLogger(__name__)

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def gateway_address(pattern: str, number: str) -> str:
    """The gateway mailbox for a fax number; raise ``SendError`` if it is not one."""
    try:
        e164 = normalise_phone(number, field="fax number")
    except InvalidInput as exc:
        raise SendError(f"not a fax number: {exc.message}", retryable=False,
                        code="bad_address") from exc
    parsed = phonenumbers.parse(e164)
    national = "".join(ch for ch in phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.NATIONAL) if ch.isdigit())
    return pattern.format(number=e164.lstrip("+"), e164=e164, national=national)


class FaxDeliverer:
    """Outbound adapter for ``Channel.FAX``: one rendered reply per notice."""

    channel = Channel.FAX

    def __init__(self, settings: FaxSettings, *, clock: Callable[[], datetime] = _utcnow,
                 tz: ZoneInfo = DEFAULT_TZ) -> None:
        self._out = settings.outbound
        self._clock = clock
        self._tz = tz
        # Fail at start, not on the first reply, when no CJK font is installed.
        self._font = find_cjk_font(self._out.font_path, self._out.font_index)

    async def deliver(self, notice: Notice) -> str:
        """Render and send; return the Message-ID and the gateway's queue reply."""
        to = gateway_address(self._out.address_pattern, notice.address)
        message = await asyncio.to_thread(self._compose, notice, to)
        reply = await asyncio.to_thread(self._send, message, to)
        reference = f"{message['Message-ID']} {reply}".strip()
        log.info("fax reply for %s sent to %s: %s", notice.case_number, to, reply)
        return reference[:250]

    def render(self, notice: Notice) -> tuple[bytes, str, str]:
        """The reply document: (bytes, content type, filename)."""
        reply = FaxReply(case_number=notice.case_number, text=notice.text,
                         day=self._clock().astimezone(self._tz).date(),
                         bureau_name=self._out.bureau_name)
        pages = self._out.max_reply_pages
        stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in notice.case_number)
        if self._out.document_format == "tiff":
            return render_tiff(reply, self._font, max_pages=pages), "image/tiff", stem + ".tif"
        return render_pdf(reply, self._font, max_pages=pages), "application/pdf", stem + ".pdf"

    def _compose(self, notice: Notice, to: str) -> EmailMessage:
        data, ctype, filename = self.render(notice)
        domain = self._out.from_address.rpartition("@")[2] or "localhost"
        message = EmailMessage()
        message["From"] = self._out.from_address
        message["To"] = to
        # Subjects come from templates and case data: one line, never a header of its own.
        subject = one_line(notice.subject) or f"12345热线答复 {notice.case_number}"
        message["Subject"] = subject
        message["Date"] = formatdate(self._clock().timestamp(), localtime=False)
        message["Message-ID"] = make_msgid(idstring=f"fax{notice.notice_id}", domain=domain)
        message.set_content(f"12345热线答复，案件编号 {one_line(notice.case_number)}。\n")
        maintype, subtype = ctype.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        return message

    def _send(self, message: EmailMessage, to: str) -> str:
        out = self._out
        relay = Relay(out.smtp_host, out.smtp_port, out.timeout_s, starttls=out.smtp_starttls,
                      username=out.smtp_user, password=out.smtp_password, name="fax gateway")
        return send(relay, message, from_addr=out.from_address, to=to)
