"""aiosmtpd's SMTP protocol with a DATA phase read in bulk, not line by line.

A fax arrives as about 1.4 MB of base64 in 76-character lines: aiosmtpd's own
``smtp_DATA`` awaits ``readuntil(b"\\r\\n")`` and logs each of those ~19 000
lines, about 150 ms of CPU per fax, more than parsing and registering it. Here
the body is read in pieces that end in ``.\\r\\n`` (base64 has no dots, so a fax
is usually one piece) until the piece ends the data (``\\r\\n.\\r\\n``), with
the same answers as aiosmtpd: 552 beyond ``data_size_limit`` and 500 for a line
longer than ``line_length_limit``, both only after the whole body was read
(RFC 5321 § 4.2.5), and the dot-stuffing undone (§ 4.5.2). Nothing after the
final dot is consumed, so a pipelined QUIT is still read as a command.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, syntax

log = logging.getLogger(__name__)

_END = b"\r\n.\r\n"
_PIECE_END = b".\r\n"


class BulkDataSMTP(SMTP):
    """``SMTP`` whose DATA is read in bulk; everything else is aiosmtpd's."""

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            body, too_much = await self._read_body()
        except asyncio.CancelledError:
            log.info("Connection lost during DATA")
            self._writer.close()
            raise
        if too_much:
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        if has_line_over(body, self.line_length_limit):
            await self.push("500 Line too long (see RFC5321 4.5.3.1.6)")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        # Undo the transparency dots (RFC 5321 § 4.5.2): one leading dot off each line.
        content = body.replace(b"\r\n.", b"\r\n")
        if content.startswith(b"."):
            content = content[1:]
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)

    async def _read_body(self) -> tuple[bytes, bool]:
        """The body up to, without, the final ``.\\r\\n``; and whether it exceeded the limit
        (then it was read and dropped as it came, to keep memory bounded)."""
        reader: Any = self._reader  # an asyncio.StreamReader; its private _limit is widened below
        limit = self.data_size_limit or 0
        pieces: list[bytes] = []
        size, tail, too_much = 0, b"\r\n", False
        # The stream's limit is one line's; a piece may be the whole body.
        saved, reader._limit = reader._limit, max(reader._limit, limit + len(_END), 1 << 20)
        try:
            while True:
                try:
                    piece = await reader.readuntil(_PIECE_END)
                except asyncio.LimitOverrunError as exc:  # no dot within the stream's limit
                    piece = await reader.read(exc.consumed)
                except asyncio.IncompleteReadError as exc:  # the client closed mid-body
                    raise asyncio.CancelledError from exc
                size += len(piece)
                tail = (tail + piece)[-len(_END):]
                if limit and size > limit + len(_PIECE_END):
                    too_much, pieces = True, []
                elif not too_much:
                    pieces.append(piece)
                if tail.endswith(_END):  # the tail starts as a line end: an empty body ends too
                    break
        finally:
            reader._limit = saved
        if too_much:
            return b"", True
        body = b"".join(pieces)
        return body[:-len(_PIECE_END)], False


def has_line_over(body: bytes, limit: int) -> bool:
    """Whether a line of ``body`` (lines end at CRLF) is, with its CRLF, longer than ``limit``.

    Splitting a fax's ~19 000 lines to measure each costs ~2 ms (a regex scan, 50). A line
    too long holds at least one whole aligned block of about half the limit with no CRLF in
    it, so each block is searched in place, ~3 000 finds for a fax, and only a block without
    a line end has its line measured.
    """
    most = limit - 2  # the longest line content allowed
    if len(body) <= most:
        return False
    step = max(1, (most + 2) // 2)  # a line of most + 1 bytes holds a whole block of step
    for start in range(0, len(body) - step + 1, step):
        if body.find(b"\r\n", start, start + step) >= 0:
            continue
        before = body.rfind(b"\r\n", 0, start + 1)
        after = body.find(b"\r\n", start)
        line_start = before + 2 if before >= 0 else 0
        if (after if after >= 0 else len(body)) - line_start > most:
            return True
    return False
