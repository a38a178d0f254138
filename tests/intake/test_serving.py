"""Issue 10 item 8: the HTTP server's deadlines for slow clients, over real sockets.

A small app served by ``intake.serving.DeadlineRunner`` (the runner ``hotline
serve`` uses): a slowloris trickling header bytes gets 408 and is closed at the
head deadline while a normal request on another connection is served; a slow
but steady upload completes, however many head deadlines and body windows it
spans; a body trickled below the minimum rate is closed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from contextlib import AbstractAsyncContextManager

import aiohttp
import pytest
from aiohttp import web

from config.settings import WebSettings
from intake.app import security_headers
from intake.serving import YOUNG_GENERATION, settle_heap
from tests.sockets import served, trickle


async def _echo_length(request: web.Request) -> web.Response:
    return web.Response(text=str(len(await request.read())))


async def _hello(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def serving(**limits: float) -> AbstractAsyncContextManager[int]:
    # The service's own middleware: a client gone mid-upload is one INFO line.
    app = web.Application(client_max_size=10_000_000, middlewares=[security_headers])
    app.router.add_get("/", _hello)
    app.router.add_post("/upload", _echo_length)
    return served(app, WebSettings(**limits))


async def _get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    return answer


async def test_a_slowloris_gets_408_at_the_head_deadline_while_others_are_served(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with serving(header_timeout_s=1.0, keepalive_timeout_s=60) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        slowloris = asyncio.create_task(trickle(
            writer, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-a: b\r\n" * 500))
        await asyncio.sleep(0.3)
        normal = await _get(port)  # served while the slowloris is still trickling
        cut = await asyncio.wait_for(reader.read(), timeout=10)
        took = time.monotonic() - started
        slowloris.cancel()
        writer.close()
    assert normal.startswith(b"HTTP/1.1 200") and normal.endswith(b"ok")
    assert cut.startswith(b"HTTP/1.1 408") and "请求超时".encode() in cut
    assert 0.9 <= took < 5  # at the deadline, not at the keep-alive timeout
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("not complete within" in r.getMessage() for r in caplog.records)


async def test_the_head_deadline_runs_again_for_each_request_on_a_kept_alive_connection(
        ) -> None:
    async with serving(header_timeout_s=0.5, keepalive_timeout_s=60) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b"ok"), timeout=5)
        await asyncio.sleep(0.8)  # idle between requests: the keep-alive's business
        trickler = asyncio.create_task(trickle(writer, b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 99))
        cut = await asyncio.wait_for(reader.read(), timeout=10)
        trickler.cancel()
        writer.close()
    assert first.startswith(b"HTTP/1.1 200")
    assert cut.startswith(b"HTTP/1.1 408")


async def test_a_slow_but_steady_upload_completes() -> None:
    body = b"x" * 24_000
    async with serving(header_timeout_s=0.3, body_window_s=0.3,
                       body_min_bytes_per_s=1000) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        started = time.monotonic()
        # 12 KB/s for 2 s: many body windows, many head deadlines.
        await trickle(writer, body, piece=600)
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        took = time.monotonic() - started
        writer.close()
    assert took > 1.5
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"24000")


async def test_a_trickled_body_is_closed_below_the_minimum_rate(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with serving(header_timeout_s=5, body_window_s=0.5, body_min_bytes_per_s=1000) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        started = time.monotonic()
        trickler = asyncio.create_task(trickle(writer, b"y" * 100_000))  # 20 bytes a second
        rest = await asyncio.wait_for(reader.read(), timeout=10)
        took = time.monotonic() - started
        trickler.cancel()
        writer.close()
        await asyncio.sleep(0.1)
    assert not rest.startswith(b"HTTP/1.1 200")
    assert 0.4 <= took < 3
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("bytes in" in r.getMessage() and "closed" in r.getMessage()
               for r in caplog.records)
    assert any("went away" in r.getMessage() for r in caplog.records)


async def _echo_ws(request: web.Request) -> web.WebSocketResponse:
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    async for message in socket:
        await socket.send_str(f"echo:{message.data}")
    return socket


async def test_a_websocket_is_not_judged_by_the_http_deadlines() -> None:
    """The agent console's screen pop is a websocket: quiet for long, then a frame."""
    app = web.Application()
    app.router.add_get("/ws", _echo_ws)
    limits = WebSettings(header_timeout_s=0.3, body_window_s=0.3)
    async with served(app, limits) as port, aiohttp.ClientSession() as session, \
            session.ws_connect(f"http://127.0.0.1:{port}/ws") as socket:
        for word in ("a", "b"):
            await asyncio.sleep(0.6)
            await socket.send_str(word)
            assert await asyncio.wait_for(socket.receive_str(), timeout=5) == f"echo:{word}"


def test_settle_heap_freezes_what_start_up_built_and_widens_young_collections() -> None:
    threshold = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 10_000  # this process's modules, classes, functions
        assert gc.get_threshold() == (YOUNG_GENERATION, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
