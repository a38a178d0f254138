"""The one SMTP client every outbound channel uses (email replies, email-to-fax gateways).

Blocking stdlib ``smtplib``, to be run in a worker thread (``asyncio.to_thread``)
so the event loop never waits on a relay. What goes wrong becomes the outbox's
typed ``SendError``: a refused connection, a timeout or a 4xx reply may heal
(retryable), a 5xx reply, wrong credentials or a missing feature will not.
The relay's final reply to DATA is returned: it often carries the relay's
queue id, the only handle an operator has to trace one message.
"""

from __future__ import annotations

import email.policy
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from contract.notice import SendError


@dataclass(frozen=True, slots=True)
class Relay:
    """Where a channel hands its mail over, and how it signs in there."""

    host: str
    port: int
    timeout_s: float
    """Per SMTP command; a relay slower than this is a retryable failure."""
    starttls: bool = False
    username: str = ""
    password: str = ""
    name: str = "mail relay"
    """What the relay is called in error messages ("fax gateway", "mail relay")."""


def send(relay: Relay, message: EmailMessage, *, from_addr: str, to: str) -> str:
    """Hand ``message`` to ``relay`` for ``to``; the relay's final reply (250) on success."""
    utf8 = not (from_addr.isascii() and to.isascii())
    try:
        with smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout_s) as smtp:
            smtp.ehlo()
            if relay.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if relay.username:
                smtp.login(relay.username, relay.password)
            if utf8 and not smtp.has_extn("smtputf8"):
                raise SendError(f"{relay.name} cannot take the non-ASCII address {to!r} "
                                "(no SMTPUTF8)", retryable=False, code="unsupported")
            code, text = smtp.mail(from_addr, ["SMTPUTF8", "BODY=8BITMIME"] if utf8 else [])
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, text, from_addr)
            code, text = smtp.rcpt(to)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({to: (code, text)})
            policy = email.policy.SMTPUTF8 if utf8 else email.policy.SMTP
            code, text = smtp.data(message.as_bytes(policy=policy))
            if code != 250:  # smtplib raises only for the 354; the final reply is ours to judge
                raise smtplib.SMTPDataError(code, text)
            return text.decode("utf-8", "replace")
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()), (550, b"refused"))
        raise refusal(relay, code, text, "recipient") from exc
    except smtplib.SMTPAuthenticationError as exc:
        # Wrong credentials do not heal by waiting: the desk must see it.
        raise SendError(f"{relay.name} refused our login: {exc.smtp_code}", retryable=False,
                        code="smtp_auth") from exc
    except smtplib.SMTPResponseException as exc:
        raise refusal(relay, exc.smtp_code, exc.smtp_error, "message") from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise SendError(f"{relay.name} lacks a feature we need: {exc}", retryable=False,
                        code="unsupported") from exc
    except (smtplib.SMTPException, OSError) as exc:
        # Refused connection, timeout, dropped line: the relay may be back soon.
        raise SendError(f"{relay.name} {relay.host}:{relay.port} unreachable: {exc}",
                        retryable=True, code="connect") from exc


def refusal(relay: Relay, code: int, text: bytes | str, what: str) -> SendError:
    """A relay's refusal as a ``SendError``: 4xx may heal, 5xx will not."""
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    reply = " ".join(reply.split())
    return SendError(f"{what} refused by the {relay.name}: {code} {reply}",
                     retryable=400 <= code < 500, code=f"smtp_{code}")
