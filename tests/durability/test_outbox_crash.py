"""The outbox under crashes and outages: a fax receipt to a real (local) email-to-fax gateway.

- Killed between sending and marking sent: the gateway already has the fax;
  after the restart the lease runs out and the notice goes once more, then is
  marked sent. At most one extra send, never a lost one.
- The gateway down for a long while (compressed here to seconds by the retry
  settings): the notice waits, retrying with backoff, and goes out when the
  gateway returns; it never fails for good meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from registrar.db import create_engine, make_sessionmaker
from registrar.models import Notice
from tests.durability.server import Acks, Service, free_port, new_ids, send_fax, until

pytestmark = pytest.mark.durability


class Gateway:
    """An email-to-fax gateway that records every fax it was handed; ``hold`` delays its 250."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[bytes] = []
        self.hold = threading.Event()
        self.release = threading.Event()
        self.controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(bytes(envelope.content))
        if self.hold.is_set():
            for _ in range(600):  # the worker is killed while it waits for this reply
                if self.release.is_set():
                    break
                await asyncio.sleep(0.05)
        return "250 2.0.0 queued as FAX1"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class OutboxService(Service):
    """The service with its outbox on, fax replies to ``gateway_port``, fast retries."""

    gateway_port: int = 0

    def site_file(self) -> Path:
        path = super().site_file()
        text = path.read_text(encoding="utf-8").replace(
            "[worker]\noutbox_enabled = false",
            "[worker]\noutbox_enabled = true\noutbox_interval_s = 0.2\noutbox_lease_s = 2.0\n"
            "outbox_retry_base_s = 0.3\noutbox_max_attempts = 12")
        text = text.replace(f"[fax]\nenabled = true\nport = {self.smtp_port}\n",
                            f"[fax]\nenabled = true\nport = {self.smtp_port}\n"
                            f"[fax.outbound]\nsmtp_port = {self.gateway_port}\n"
                            'address_pattern = "{number}@fax.test"\n')
        path.write_text(text, encoding="utf-8")
        return path


async def _receipts(db_url: str) -> list[Notice]:
    engine = create_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return list((await session.execute(select(Notice).where(
                Notice.kind == "receipt", Notice.channel == "fax"))).scalars())
    finally:
        await engine.dispose()


async def test_outbox_killed_between_send_and_mark_sends_at_most_once_more(
        db_url: str, tmp_path: Path) -> None:
    gateway = Gateway(free_port())
    gateway.hold.set()
    gateway.start()
    service = OutboxService(db_url, tmp_path)
    service.gateway_port = gateway.port
    await service.start()
    try:
        acks = Acks()
        [message_id] = new_ids("fax", 1)
        await asyncio.to_thread(send_fax, service.smtp_port, message_id, acks)
        assert message_id in acks.fax, service.log_tail()
        await until(lambda: len(gateway.received) == 1, limit_s=30)
        service.kill()  # the fax went out; "sent" was never written
        gateway.hold.clear()
        gateway.release.set()
        await service.start()
        await until(lambda: len(gateway.received) >= 2, limit_s=30)
        notices: list[Notice] = []

        async def marked() -> bool:
            notices[:] = await _receipts(db_url)
            return bool(notices) and notices[0].status == "sent"

        async with asyncio.timeout(30):
            while not await marked():  # noqa: ASYNC110 - the row is written by another process
                await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # a further lease period: nothing more may go out
    finally:
        service.stop()
        gateway.stop()
    assert len(gateway.received) == 2  # the one before the kill and exactly one more
    assert [(n.status, n.attempts) for n in notices] == [("sent", 2)]


async def test_gateway_down_for_a_while_the_notice_waits_and_goes_out(
        db_url: str, tmp_path: Path) -> None:
    gateway = Gateway(free_port())  # not started: the gateway is down
    service = OutboxService(db_url, tmp_path)
    service.gateway_port = gateway.port
    await service.start()
    try:
        acks = Acks()
        [message_id] = new_ids("fax", 1)
        await asyncio.to_thread(send_fax, service.smtp_port, message_id, acks)
        assert message_id in acks.fax, service.log_tail()
        tried: list[Notice] = []

        async def retried_twice() -> bool:
            tried[:] = await _receipts(db_url)
            return bool(tried) and tried[0].attempts >= 2

        async with asyncio.timeout(30):
            while not await retried_twice():  # noqa: ASYNC110 - written by another process
                await asyncio.sleep(0.1)
        assert tried[0].status not in ("sent", "failed")
        gateway.start()
        await until(lambda: len(gateway.received) == 1, limit_s=60)
        async with asyncio.timeout(30):
            while (await _receipts(db_url))[0].status != "sent":  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    finally:
        service.stop()
        gateway.stop()
    assert len(gateway.received) == 1
