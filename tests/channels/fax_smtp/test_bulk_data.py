"""The bulk DATA reader answers and stores exactly what aiosmtpd's line-by-line reader does.

Each body goes, as raw bytes on a socket (so dot-stuffing, odd splits and a
pipelined QUIT are ours to choose), to both protocols: ``BulkDataSMTP`` and
aiosmtpd's own ``SMTP``; the replies and the stored content must be equal.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiosmtpd.smtp import SMTP
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.fax_smtp.bulk_data import BulkDataSMTP, has_line_over

LIMIT = 4096


class Keep:
    """Records each message's content and accepts it."""

    def __init__(self) -> None:
        self.contents: list[bytes] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.contents.append(envelope.original_content)
        return "250 kept"


@asynccontextmanager
async def serving(protocol: type[SMTP], handler: Keep) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: protocol(handler, data_size_limit=LIMIT, loop=loop),
                                      "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def converse(port: int, data: bytes, splits: list[int]) -> list[bytes]:
    """EHLO, MAIL, RCPT, DATA, then ``data`` in pieces cut at ``splits``; every reply line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies: list[bytes] = [await reader.readline()]

    async def reply() -> None:
        while True:
            line = await reader.readline()
            replies.append(line)
            if line[3:4] != b"-":
                return

    for command in (b"EHLO t", b"MAIL FROM:<a@b.example>", b"RCPT TO:<c@d.example>", b"DATA"):
        writer.write(command + b"\r\n")
        await reply()
    cuts = sorted({0, *(s % (len(data) + 1) for s in splits), len(data)})
    for start, end in itertools.pairwise(cuts):
        writer.write(data[start:end])
        await writer.drain()
    await reply()  # after the final dot; the pipelined QUIT, if sent, is answered next
    if data.endswith(b"QUIT\r\n"):
        await reply()
    writer.close()
    return replies


def stuffed(lines: list[bytes]) -> bytes:
    """A body as a client sends it: each line dot-stuffed, then the final dot."""
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) \
        + b".\r\n"


async def both(data: bytes, splits: list[int]) -> None:
    ours, theirs = Keep(), Keep()
    async with serving(BulkDataSMTP, ours) as bulk, serving(SMTP, theirs) as lines:
        got, expected = await converse(bulk, data, splits), await converse(lines, data, splits)
    assert got == expected
    assert ours.contents == theirs.contents


# Lines may hold a bare CR or LF: only CRLF ends an SMTP line.
LINE = st.binary(max_size=120).map(lambda b: b.replace(b"\r\n", b""))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.one_of(LINE, st.sampled_from([b".", b"..", b".x", b"", b"a."])),
                      max_size=30),
       splits=st.lists(st.integers(min_value=0, max_value=10_000), max_size=4),
       quit_after=st.booleans())
def test_bodies_are_read_as_aiosmtpd_reads_them(lines: list[bytes], splits: list[int],
                                                quit_after: bool) -> None:
    data = stuffed(lines) + (b"QUIT\r\n" if quit_after else b"")
    asyncio.run(both(data, splits))


async def test_an_empty_body_a_lone_dot_line_and_a_fax_sized_body() -> None:
    await both(b".\r\n", [])
    await both(stuffed([b"."]), [1, 2])
    await both(stuffed([b"QUJD" * 19] * 40), [7, 500])


async def test_too_much_data_is_552_and_a_too_long_line_500_after_the_whole_body() -> None:
    await both(stuffed([b"x" * 70] * 100), [1000, 3000])  # 7 200 bytes over a 4 096 limit
    await both(stuffed([b"y" * 1200]), [])  # one line over the 1 001 a line may have
    await both(stuffed([b"z" * 999]), [])  # a line exactly at the limit is fine
    await both(stuffed([b"w\n" * 600]), [])  # bare LFs do not end a line: still too long


def _split_reference(body: bytes, limit: int) -> bool:
    return bool(body) and max(map(len, body.split(b"\r\n"))) + 2 > limit


LONGISH = st.builds(lambda n, fill: fill * n, st.integers(min_value=0, max_value=140),
                    st.sampled_from([b"x", b"\r", b"\n", b"\n\r"]))


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.one_of(LINE, LONGISH), max_size=12),
       limit=st.integers(min_value=0, max_value=130), crlf_last=st.booleans())
def test_the_line_length_check_finds_what_splitting_finds(lines: list[bytes], limit: int,
                                                           crlf_last: bool) -> None:
    """``has_line_over`` searches blocks in place; it answers as measuring every line does,
    with lines around the limit, of bare CRs and LFs, and with or without a last CRLF."""
    body = b"\r\n".join(lines) + (b"\r\n" if crlf_last else b"")
    assert has_line_over(body, limit) == _split_reference(body, limit)


def test_a_fax_sized_body_with_one_line_too_long_anywhere() -> None:
    lines = [b"QUJD" * 19] * 2000
    for where in (0, 1000, 1999):
        body = b"\r\n".join([*lines[:where], b"y" * 1000, *lines[where + 1:]])
        assert has_line_over(body, 1001) and not has_line_over(body, 1002)
    assert not has_line_over(b"\r\n".join(lines), 1001)
