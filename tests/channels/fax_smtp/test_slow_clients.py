"""Issue 10 item 8: SMTP clients that trickle are cut with 421; a slow but steady fax arrives.

Real sockets against the fax SMTP server: a command trickled a byte at a time
is cut at the command deadline (``idle_timeout_s``), a message trickled after
DATA at the DATA deadline (``data_timeout_s``), each with ``421`` before the
close; a fax mail sent steadily over longer than the command deadline is
registered.
"""

from __future__ import annotations

import asyncio
import time

from tests.sockets import trickle

from .conftest import RecordingSink, ServerFactory, fixture


async def _until_closed(reader: asyncio.StreamReader) -> tuple[bytes, float]:
    started = time.monotonic()
    rest = await asyncio.wait_for(reader.read(), timeout=20)
    return rest, time.monotonic() - started


async def _session(port: int, commands: bytes) -> tuple[asyncio.StreamReader,
                                                        asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await reader.readline()).startswith(b"220")
    writer.write(commands)
    return reader, writer


async def _at_data(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A session that got DATA's 354 (EHLO's, MAIL's and RCPT's 250s read on the way)."""
    reader, writer = await _session(port, b"EHLO faxgw.test\r\nMAIL FROM:<fax@faxgw.test>\r\n"
                                          b"RCPT TO:<12345@hotline.test>\r\nDATA\r\n")
    async with asyncio.timeout(10):
        while not (line := await reader.readline()).startswith(b"354"):
            assert line.startswith(b"250"), line
    return reader, writer


async def test_a_trickled_command_is_cut_with_421_at_the_command_deadline(
        fax_server: ServerFactory, sink: RecordingSink) -> None:
    async with fax_server(sink, idle_timeout_s=0.5, data_timeout_s=30) as running:
        reader, writer = await _session(running.port, b"")
        trickler = asyncio.create_task(trickle(writer, b"EHLO faxgw.test" + b"x" * 1000))
        rest, took = await _until_closed(reader)
        trickler.cancel()
        writer.close()
    assert rest.startswith(b"421 4.4.2 ") and b"timeout" in rest
    assert took < 5
    assert sink.calls == 0


async def test_a_trickled_message_is_cut_with_421_at_the_data_deadline(
        fax_server: ServerFactory, sink: RecordingSink) -> None:
    async with fax_server(sink, idle_timeout_s=0.3, data_timeout_s=1.0) as running:
        reader, writer = await _at_data(running.port)
        started = time.monotonic()
        trickler = asyncio.create_task(trickle(writer, b"Subject: fax\r\n\r\n" + b"x" * 1000))
        rest = await asyncio.wait_for(reader.read(), timeout=20)
        took = time.monotonic() - started
        trickler.cancel()
        writer.close()
    assert rest.startswith(b"421 4.4.2 ")
    # DATA has its own, larger deadline: not cut at the 0.3 s command deadline.
    assert 0.8 <= took < 5
    assert sink.calls == 0


async def test_a_fax_sent_slowly_but_steadily_arrives_past_the_command_deadline(
        fax_server: ServerFactory, sink: RecordingSink) -> None:
    raw = fixture("hylafax_faxrcvd_two_pages_tiff.eml").replace(b"\r\n", b"\n") \
        .replace(b"\n", b"\r\n")
    body = b"".join(b"." + line if line.startswith(b".") else line
                    for line in raw.splitlines(keepends=True))
    async with fax_server(sink, idle_timeout_s=0.3, data_timeout_s=30) as running:
        reader, writer = await _at_data(running.port)
        started = time.monotonic()
        await trickle(writer, body, every_s=0.1, piece=len(body) // 12 + 1)  # about 1.2 s
        writer.write(b"" if body.endswith(b"\r\n") else b"\r\n")
        writer.write(b".\r\n")
        answer = await asyncio.wait_for(reader.readline(), timeout=30)
        took = time.monotonic() - started
        writer.close()
    assert took > 1.0  # longer than the command deadline, several times over
    assert answer.startswith(b"250"), answer
    assert len(sink.envelopes) == 1
