"""Slow and vanishing clients: cut off by timeouts, and a dropped upload is a short INFO line.

Real sockets against the app on a free port, served as ``hotline serve`` serves
it (``intake.serving``): a client that trickles its headers, one that stalls
its body, one that uploads slowly but steadily, and one that hangs up half-way
through an upload. The server's deadlines themselves are in tests/intake/test_serving.py.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from config.settings import Settings
from contract.clock import FixedClock
from contract.signing import CitizenCsrf
from intake.app import create_app
from tests.conftest import make_settings
from tests.sockets import served, trickle

BOUNDARY = "slow-client-boundary"


def serving(settings: Settings, clock: FixedClock) -> AbstractAsyncContextManager[int]:
    """The app as ``hotline serve`` runs it (``intake.serving``), on a free port."""
    return served(create_app(settings, clock=clock), settings.web)


async def csrf_cookie(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = (await reader.read()).split(b"\r\n\r\n", 1)[0].decode()
    writer.close()
    cookie = next(line for line in head.split("\r\n")
                  if line.lower().startswith("set-cookie:") and CitizenCsrf.COOKIE in line)
    return cookie.split(":", 1)[1].strip().split(";", 1)[0]


def with_web(db_url: str, tmp_path: Path, **web: float) -> Settings:
    """The test settings with these ``[web]`` limits."""
    return make_settings(db_url, tmp_path, web={
        "secret_key": "test-secret-key-0123456789abcdef", "port": 0, **web})


def upload_head(cookie: str, length: int) -> bytes:
    return (f"POST /submit HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


async def test_slow_headers_are_dropped_at_the_keepalive_timeout(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    async with serving(with_web(db_url, tmp_path, keepalive_timeout_s=0.5), clock) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        closed = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
    assert closed == b""


async def test_item8_slowloris_gets_408_at_the_head_deadline_while_healthz_is_served(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    async with serving(with_web(db_url, tmp_path, header_timeout_s=1.0), clock) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        trickler = asyncio.create_task(trickle(writer, b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 500))
        await asyncio.sleep(0.3)
        other_reader, other = await asyncio.open_connection("127.0.0.1", port)
        other.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        healthz = await asyncio.wait_for(other_reader.read(), timeout=10)
        other.close()
        cut = await asyncio.wait_for(reader.read(), timeout=10)
        trickler.cancel()
        writer.close()
    assert healthz.startswith(b"HTTP/1.1 200")
    assert cut.startswith(b"HTTP/1.1 408")


async def test_item8_a_slow_but_steady_form_upload_is_not_cut_by_the_body_timeout(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    """``web_form.body_timeout_s`` is progress-based: 0.5 s here, the upload takes ~1.5 s."""
    settings = make_settings(db_url, tmp_path, web_form={"body_timeout_s": 0.5})
    body = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="attachments"; '
            f'filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n').encode() \
        + b"x" * 30_000 + f"\r\n--{BOUNDARY}--\r\n".encode()
    async with serving(settings, clock) as port:
        cookie = await csrf_cookie(port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upload_head(cookie, len(body)))
        await trickle(writer, body, piece=1000)  # 20 KB/s, about 1.5 s
        answer = await asyncio.wait_for(reader.readline(), timeout=10)
        writer.close()
    # Read to the end, then judged: no csrf field in this post, so 403, never 408.
    assert answer.startswith(b"HTTP/1.1 403"), answer


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
