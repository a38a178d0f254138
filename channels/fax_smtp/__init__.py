"""Fax channel: fax-to-email in over SMTP (aiosmtpd), replies out by email-to-fax.

``fax_smtp_server(settings, sink)`` is the long-lived part (an async context
manager); ``FaxDeliverer(settings)`` is the outbound adapter for notices.
"""

from channels.fax_smtp.deliver import FaxDeliverer
from channels.fax_smtp.server import RunningFaxServer, fax_smtp_server

__all__ = ["FaxDeliverer", "RunningFaxServer", "fax_smtp_server"]
