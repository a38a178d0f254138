"""Email channel, outbound only: notices as plain-text UTF-8 mail through an SMTP relay.

``EmailDeliverer(settings)`` is the outbound adapter; ``email_deliverer(settings)``
is the long-lived part for ``app.cleanup_ctx`` (it yields the deliverer, or
``None`` when the channel is not enabled, so the outbox reports "channel not
enabled" instead of sending).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from channels.email_smtp.deliver import EmailDeliverer, compose, one_line, recipient
from channels.email_smtp.settings import EmailSettings


@asynccontextmanager
async def email_deliverer(settings: EmailSettings) -> AsyncIterator[EmailDeliverer | None]:
    """The deliverer while the service runs; it holds no connection between sends."""
    yield EmailDeliverer(settings) if settings.enabled else None


__all__ = ["EmailDeliverer", "compose", "email_deliverer", "one_line", "recipient"]
