"""The HTTP server ``hotline serve`` runs: aiohttp with deadlines for slow clients.

aiohttp has no deadline for the request head: a client that trickles header
bytes is only cut by ``keepalive_timeout``, and a body has none at all. Both
tie up a connection (and, behind no proxy, a file descriptor) for as long as
the client likes (slowloris). Every connection here gets two limits:

* **the head**: request line and headers must be complete within
  ``web.header_timeout_s`` of their first byte; otherwise the client gets
  ``408`` and the connection is closed. The timer runs only while a head is
  arriving, so a keep-alive connection between requests is left to
  ``keepalive_timeout`` and a body is never judged by it;
* **the body**: while a request body is arriving, each ``web.body_window_s``
  must bring at least ``web.body_min_bytes_per_s`` × window bytes, so a slow
  but steady upload completes however long it takes, and a client that
  trickles a byte now and then is closed (logged at INFO; the handler reading
  the body sees the client gone). A window in which the server itself stopped
  reading (the handler is slower than the client: flow control) counts as
  progress.

The limits live in a ``RequestHandler`` subclass (aiohttp's per-connection
protocol); ``DeadlineRunner`` is ``web.AppRunner`` with it, and ``serve`` is
``web.run_app`` for it. The subclass reads aiohttp's handler state (the parsed
message queue, whether reading is paused): ``tests/channels/web/test_slow_clients.py``
exercises it with real sockets, so an aiohttp upgrade that changes it fails there.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_runner import GracefulExit

from config.settings import WebSettings

log = logging.getLogger(__name__)

def _timeout_response() -> bytes:
    """The 408 written straight to the socket (no request was parsed to answer)."""
    body = "请求超时，请重试。\n".encode()
    head = ("HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


_REQUEST_TIMEOUT = _timeout_response()


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """How long a client may take over a request head, and how slowly it may send a body."""

    header_timeout_s: float = 30.0
    body_window_s: float = 60.0
    body_min_bytes_per_s: int = 256

    @classmethod
    def of(cls, settings: WebSettings) -> ClientLimits:
        return cls(settings.header_timeout_s, settings.body_window_s,
                   settings.body_min_bytes_per_s)


class _DeadlineHandler(RequestHandler):
    """aiohttp's connection protocol with a head deadline and a body progress rule."""

    def __init__(self, manager: web.Server, *, loop: asyncio.AbstractEventLoop,
                 limits: ClientLimits, **kwargs: Any) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._limits = limits
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body: Any = None
        """The payload of the last request parsed, while its body is still arriving."""
        self._body_bytes = 0
        """Bytes received in the current body window."""

    def _reading_body(self) -> bool:
        return self._body is not None and not self._body.is_eof()

    def data_received(self, data: bytes) -> None:
        if self._upgraded or self._payload_parser is not None:  # a websocket: not HTTP
            super().data_received(data)
            return
        if self._reading_body():
            self._body_bytes += len(data)
        elif self._head_timer is None and data:
            self._head_timer = self._loop.call_later(self._limits.header_timeout_s,
                                                     self._head_too_slow)
        before = len(self._messages)
        super().data_received(data)
        parsed = list(itertools.islice(self._messages, before, None))
        if parsed:
            self._cancel_head_timer()
            self._body = parsed[-1][1]
            if self._reading_body() and self._body_timer is None:
                self._body_bytes = 0
                self._body_timer = self._loop.call_later(self._limits.body_window_s,
                                                         self._check_body)
        if not self._reading_body():
            self._body = None
            self._cancel_body_timer()

    def _head_too_slow(self) -> None:
        self._head_timer = None
        transport = self.transport
        if transport is None or self._force_close:
            return
        if self._buffer_paused:  # we stopped reading (requests queued): not the client's fault
            self._head_timer = self._loop.call_later(self._limits.header_timeout_s,
                                                     self._head_too_slow)
            return
        log.info("web: request head from %s not complete within %g s; closed (408)",
                 _peer(transport), self._limits.header_timeout_s)
        if self._waiter is not None and not self._waiter.done():
            transport.write(_REQUEST_TIMEOUT)  # idle between requests: nothing else writes
        self.force_close()

    def _check_body(self) -> None:
        self._body_timer = None
        transport = self.transport
        if transport is None or self._force_close or not self._reading_body():
            return
        limits = self._limits
        needed = limits.body_min_bytes_per_s * limits.body_window_s
        if self._body_bytes < needed and not (self._reading_paused or self._buffer_paused):
            log.info("web: request body from %s: %d bytes in %g s (at least %.0f needed); "
                     "closed", _peer(transport), self._body_bytes, limits.body_window_s, needed)
            self.force_close()
            return
        self._body_bytes = 0
        self._body_timer = self._loop.call_later(limits.body_window_s, self._check_body)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
        self._body = None
        super().connection_lost(exc)


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


class _DeadlineServer(web.Server):
    """``web.Server`` whose connections are ``_DeadlineHandler``s."""

    def __init__(self, inner: web.Server, limits: ClientLimits) -> None:
        super().__init__(inner.request_handler, request_factory=inner.request_factory,
                         handler_cancellation=inner.handler_cancellation, loop=inner._loop,
                         **inner._kwargs)
        self._limits = limits

    def __call__(self) -> RequestHandler:
        return _DeadlineHandler(self, loop=self._loop, limits=self._limits, **self._kwargs)


class DeadlineRunner(web.AppRunner):
    """``web.AppRunner`` whose server holds slow clients to ``limits``."""

    def __init__(self, app: web.Application, *, limits: ClientLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits

    async def _make_server(self) -> web.Server:
        return _DeadlineServer(await super()._make_server(), self._limits)


def server_options(settings: WebSettings) -> dict[str, Any]:
    """What the HTTP server is started with besides the deadlines: a connection idle for the
    keep-alive timeout is closed; no access log where ``web.access_log`` is off (nginx in
    front logs every request already)."""
    options: dict[str, Any] = {"keepalive_timeout": settings.keepalive_timeout_s}
    if not settings.access_log:
        options["access_log"] = None
    return options


def runner_for(app: web.Application, settings: WebSettings, **kwargs: Any) -> DeadlineRunner:
    """The runner ``hotline serve`` uses for ``app`` (tests start the same one)."""
    return DeadlineRunner(app, limits=ClientLimits.of(settings),
                          **(server_options(settings) | kwargs))


YOUNG_GENERATION = 10_000
"""Allocations between young collections once started (CPython's default is 700)."""


def settle_heap() -> None:
    """Once the service has started: what start-up built (routes, templates, ORM mappings,
    the calendar, ~160 000 objects) lives as long as the process, so ``gc.freeze`` takes it
    out of every later collection, and young collections run every 10 000 allocations, not
    700. Measured with ``bench``: the collector took 0.13–0.17 ms of a web intake's ~1 ms
    of CPU before, 0.04–0.05 after."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION, middle, old)


def serve(app: web.Application, settings: WebSettings) -> None:
    """``web.run_app`` with the deadlines: serve until SIGINT/SIGTERM, then clean up."""

    async def main() -> None:
        runner = runner_for(app, settings, handle_signals=True)
        await runner.setup()
        try:
            await web.TCPSite(runner, settings.host, settings.port).start()
            settle_heap()
            await asyncio.Event().wait()  # until a signal raises GracefulExit
        finally:
            await runner.cleanup()

    with contextlib.suppress(GracefulExit, KeyboardInterrupt):
        asyncio.run(main())
