"""Slow and vanishing clients: cut off by timeouts, and a dropped upload is a short INFO line.

Real sockets against the app on a free port: a client that trickles its headers,
one that trickles its body, and one that hangs up half-way through an upload.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from config.settings import Settings
from contract.clock import FixedClock
from contract.signing import CitizenCsrf
from intake.app import create_app, server_options
from tests.conftest import make_settings

BOUNDARY = "slow-client-boundary"


@asynccontextmanager
async def serving(settings: Settings, clock: FixedClock) -> AsyncIterator[int]:
    """The app as ``hotline serve`` runs it (same server options), on a free port."""
    runner = web.AppRunner(create_app(settings, clock=clock), **server_options(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def csrf_cookie(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = (await reader.read()).split(b"\r\n\r\n", 1)[0].decode()
    writer.close()
    cookie = next(line for line in head.split("\r\n")
                  if line.lower().startswith("set-cookie:") and CitizenCsrf.COOKIE in line)
    return cookie.split(":", 1)[1].strip().split(";", 1)[0]


def upload_head(cookie: str, length: int) -> bytes:
    return (f"POST /submit HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


async def test_slow_headers_are_dropped_at_the_keepalive_timeout(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    settings = make_settings(db_url, tmp_path, web={
        "secret_key": "test-secret-key-0123456789abcdef", "port": 0, "keepalive_timeout_s": 0.5})
    async with serving(settings, clock) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        closed = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
    assert closed == b""


async def test_slow_body_gets_408_at_the_form_body_timeout(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    settings = make_settings(db_url, tmp_path, web_form={"body_timeout_s": 0.5})
    async with serving(settings, clock) as port:
        cookie = await csrf_cookie(port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upload_head(cookie, 100_000) + f"--{BOUNDARY}\r\n".encode())
        answer = await asyncio.wait_for(reader.readline(), timeout=10)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408")


async def test_client_gone_mid_upload_is_one_info_line_not_an_error_traceback(
        db_url: str, tmp_path: Path, clock: FixedClock, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(db_url, tmp_path)
    caplog.set_level(logging.INFO)
    async with serving(settings, clock) as port:
        cookie = await csrf_cookie(port)
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upload_head(cookie, 100_000) + (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="attachments"; '
            f'filename="a.png"\r\nContent-Type: image/png\r\n\r\n').encode() + b"\x89PNG" * 100)
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        for _ in range(50):  # until the server has noticed (no fixed sleep for the outcome)
            if any("went away" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    [gone] = [r for r in caplog.records if "went away" in r.getMessage()]
    assert gone.levelno == logging.INFO and gone.exc_info is None
