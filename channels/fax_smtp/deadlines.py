"""aiosmtpd's SMTP protocol with whole-command and whole-DATA deadlines and a 421 on expiry.

aiosmtpd (1.4) has one timer, ``timeout``, started at the greeting and again
at each valid command: a client that trickles a command (or stays silent) is
closed when it runs out, without a word, and so is a gateway whose steady
DATA of a large fax takes longer than that. Here:

* a command line must be complete within ``command_timeout_s`` of the end of
  the previous one (the greeting for the first): idle time and a trickled
  command both count;
* the message after ``354`` must be complete (the final ``.``) within
  ``data_timeout_s`` of the DATA command: a larger allowance, so a large fax
  over a slow link arrives, but a client trickling bytes is still cut;
* the handler's work on the received mail (parsing, rendering pages, OCR,
  registering) is not timed here: it has its own limits;
* on expiry the client gets ``421 4.4.2 … timeout`` and the connection is closed
  (RFC 5321 §4.5.3.2: the server may close after a timeout, with 421).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiosmtpd.smtp import SMTP

log = logging.getLogger(__name__)


class DeadlineSMTP(SMTP):
    """``aiosmtpd.smtp.SMTP`` with a DATA deadline of its own and 421 on every timeout."""

    def __init__(self, handler: Any, *, command_timeout_s: float, data_timeout_s: float,
                 **kwargs: Any) -> None:
        super().__init__(handler, timeout=command_timeout_s, **kwargs)
        self._data_timeout_s = data_timeout_s
        self._phase = "command"

    async def smtp_DATA(self, arg: str) -> None:
        self._phase = "DATA"
        self._reset_timeout(self._data_timeout_s)
        try:
            await super().smtp_DATA(arg)
        finally:
            self._phase = "command"
            if self.transport is not None:
                self._reset_timeout()  # the next command gets the command deadline again

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        """The DATA hook runs after the whole message arrived: its work is not timed here."""
        if command != "DATA":
            return await super()._call_handler_hook(command, *args)
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        self._phase = "processing"
        return await super()._call_handler_hook(command, *args)

    def _timeout_cb(self) -> None:
        peer = self.session.peer if self.session is not None else None
        limit = self._data_timeout_s if self._phase == "DATA" else self._timeout_duration
        log.info("smtp: %s did not complete its %s within %.0f s; 421 and closed", peer,
                 "message" if self._phase == "DATA" else "command", limit)
        transport = self.transport
        if transport is None:
            return
        with contextlib.suppress(Exception):  # the client may be gone already
            self._writer.write(
                f"421 4.4.2 {self.hostname} timeout, closing connection\r\n".encode())
        transport.close()  # after the 421 is flushed; connection_lost cleans up (as aiosmtpd)
