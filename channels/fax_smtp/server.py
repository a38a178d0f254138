"""The SMTP server fax gateways deliver to, running inside the service's event loop.

aiosmtpd's ``Controller`` runs its own thread and loop, which is wrong beside
an async database engine; here ``loop.create_server`` starts aiosmtpd's
protocol in the running loop, inside one ``@asynccontextmanager``.

Replies (the acknowledgement rule, DESIGN invariant 1):

* 250 only after the sink returned a ``Receipt`` (the case is committed);
* 451 when the sink raises ``TryLater`` *or anything else*: the gateway keeps
  the fax and retries, and the retry finds the same ``external_id``;
* 550 for mail from a gateway that is neither allow-listed nor authenticated,
  for mail that is not a readable fax, and for what intake refuses as invalid
  (``InvalidInput``), each with the reason;
* 552 over the size limit (aiosmtpd, ``data_size_limit``) or the page limit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.smtp import SMTP

from channels.fax_smtp.auth import AuthHooks, GatewayAuthenticator
from channels.fax_smtp.deadlines import DeadlineSMTP
from channels.fax_smtp.document import DocumentInfo, analyse, same_fax, too_many_pages
from channels.fax_smtp.envelope import build_envelope
from channels.fax_smtp.ocr import ocr_pages
from channels.fax_smtp.parse import FaxMail, NotAFax, one_line, parse_fax_mail
from channels.fax_smtp.settings import FaxSettings
from contract.envelope import Receipt, Sink, TryLater
from contract.normalise import InvalidInput

log = logging.getLogger(__name__)

Now = Callable[[], datetime]
"""Reads the time (``ports.clock.now``); not ``contract.clock.Clock``, which is the object."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def peer_allowed(settings: FaxSettings, peer: Any) -> bool:
    """Whether the client address is on the gateway allow-list."""
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.networks())


class FaxHandler(AuthHooks):
    """aiosmtpd handler: each DATA becomes one envelope handed to the sink; AUTH is
    checked off the event loop (``auth.py``)."""

    def __init__(self, settings: FaxSettings, sink: Sink, *, clock: Now = _utcnow,
                 authenticator: GatewayAuthenticator | None = None) -> None:
        self._settings = settings
        self._sink = sink
        self._clock = clock
        self._authenticator = authenticator

    def _gateway_ok(self, session: Any) -> bool:
        return bool(session.authenticated) or peer_allowed(self._settings, session.peer)

    async def handle_MAIL(self, server: SMTP, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        """Refuse unknown senders before they upload a fax."""
        if not self._gateway_ok(session):
            log.warning("fax mail refused from %s: not an allowed gateway", session.peer)
            return ("550 5.7.1 not an allowed fax gateway: deliver from an allow-listed "
                    "address or authenticate")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        """Parse, register, and answer 250 only once the sink has committed."""
        if not self._gateway_ok(session):
            return "550 5.7.1 not an allowed fax gateway"
        raw = envelope.original_content or b""
        received_at = self._clock()
        try:
            mail, infos = await asyncio.to_thread(self._parse, raw)
        except NotAFax as exc:
            log.info("fax mail from %s refused: %s", session.peer, exc.reason)
            return smtp_reply(exc.smtp_reply)
        except Exception:
            log.exception("fax mail from %s: unexpected parse failure; asking to retry",
                          session.peer)
            return "451 4.3.0 fax could not be processed now; please retry later"
        ocr_text = await self._ocr(infos)
        try:
            fax_envelope = build_envelope(mail, infos, raw, received_at=received_at,
                                          ocr_text=ocr_text)
            receipt = await self._sink(fax_envelope)
        except InvalidInput as exc:
            log.info("fax %s refused by intake: %s", mail.message_id, exc)
            return smtp_reply(f"550 5.6.0 fax refused by intake ({exc.field}): {exc.message}")
        except TryLater as exc:
            log.warning("fax %s: store unavailable (%s); answering 451", mail.message_id, exc)
            return "451 4.3.0 case store temporarily unavailable; please retry later"
        except Exception:
            log.exception("fax %s: registration failed; answering 451", mail.message_id)
            return "451 4.3.0 fax could not be registered now; please retry later"
        return _accepted(receipt)

    def _parse(self, raw: bytes) -> tuple[FaxMail, list[DocumentInfo]]:
        settings = self._settings
        mail = parse_fax_mail(raw)
        infos: list[DocumentInfo] = []
        pages_left = settings.max_pages
        thumbs_left = settings.thumbnail_pages
        ocr_left = settings.ocr_max_pages if settings.ocr_enabled else 0
        for document in mail.documents:
            # A second rendering of an earlier document does not count against the limit.
            longest = max((info.pages for info in infos), default=0)
            info = analyse(document, max_pages=max(pages_left, longest),
                           thumbnail_pages=thumbs_left,
                           thumbnail_width=settings.thumbnail_width, ocr_pages=ocr_left)
            again = next((index for index, earlier in enumerate(infos)
                          if earlier.rendering_of is None
                          and same_fax(mail.documents[index], earlier, document, info)), None)
            if again is not None:
                infos.append(replace(info, rendering_of=again, thumbnails=(), ocr_pages=()))
                continue
            if info.pages > pages_left:
                raise too_many_pages(settings.max_pages - pages_left + info.pages,
                                     settings.max_pages)
            infos.append(info)
            pages_left -= info.pages
            thumbs_left = max(0, thumbs_left - info.pages)
            ocr_left = max(0, ocr_left - info.pages)
        return mail, infos

    async def _ocr(self, infos: list[DocumentInfo]) -> str | None:
        if not self._settings.ocr_enabled:
            return None
        pages = [page for info in infos for page in info.ocr_pages]
        return await ocr_pages(pages, languages=self._settings.ocr_languages,
                               timeout_s=self._settings.ocr_timeout_s)


def smtp_reply(text: str) -> str:
    """One ASCII line, as SMTP without SMTPUTF8 requires; other characters escaped."""
    return one_line(text, limit=400).encode("ascii", "backslashreplace").decode("ascii")


def _accepted(receipt: Receipt) -> str:
    if receipt.created:
        return smtp_reply(f"250 2.0.0 fax registered as case {receipt.case_number}")
    return smtp_reply(f"250 2.0.0 fax already registered as case {receipt.case_number}")


@dataclass(frozen=True, slots=True)
class RunningFaxServer:
    """The listening server; ``port`` is the bound one (useful with port 0)."""

    server: asyncio.Server
    host: str
    port: int


def _tls_context(settings: FaxSettings) -> ssl.SSLContext | None:
    if settings.starttls_cert is None or settings.starttls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(settings.starttls_cert), str(settings.starttls_key))
    return context


@asynccontextmanager
async def fax_smtp_server(settings: FaxSettings, sink: Sink, *,
                          clock: Now = _utcnow) -> AsyncIterator[RunningFaxServer]:
    """Listen for fax mail on ``settings.host:port`` until the block exits."""
    loop = asyncio.get_running_loop()
    authenticator = GatewayAuthenticator(settings.auth_users) if settings.auth_users else None
    handler = FaxHandler(settings, sink, clock=clock, authenticator=authenticator)
    tls = _tls_context(settings)

    def protocol() -> DeadlineSMTP:
        return DeadlineSMTP(handler, data_size_limit=settings.max_message_bytes,
                            command_timeout_s=settings.idle_timeout_s,
                            data_timeout_s=settings.data_timeout_s,
                            hostname=settings.server_name, tls_context=tls,
                            require_starttls=settings.require_starttls,
                            auth_require_tls=settings.auth_require_tls, loop=loop)

    server = await loop.create_server(protocol, host=settings.host, port=settings.port)
    port = int(server.sockets[0].getsockname()[1])
    log.info("fax SMTP server listening on %s:%d", settings.host, port)
    try:
        yield RunningFaxServer(server=server, host=settings.host, port=port)
    finally:
        server.close()
        await server.wait_closed()
        if authenticator is not None:
            await asyncio.to_thread(authenticator.close)
        log.info("fax SMTP server on %s:%d stopped", settings.host, port)
