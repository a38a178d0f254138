"""PostgreSQL goes away in the middle of a burst, then comes back.

The service reaches PostgreSQL through a TCP proxy this test owns; "stopping
the database" cuts every connection and refuses new ones, which is what the
service sees when the server stops or the network drops. While it is away the
senders must be told to try again (web 503 with no number, SMTP 451, the SMS
left on the SIM); once it is back every item goes through exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from channels.sms_gammu import write_incoming_sms
from contract.clock import FixedClock
from contract.envelope import Channel, Envelope
from intake.service import IntakeService
from registrar.attachments import AttachmentStore
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Case
from tests.conftest import TZ
from tests.durability.server import Acks, Service, free_port, new_ids, post_web, send_fax, until

pytestmark = pytest.mark.durability


class Proxy:
    """A TCP relay to PostgreSQL that can be cut (every connection reset) and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def down(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        self.writers |= {client_w, server_w}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
        self.writers -= {client_w, server_w}


async def test_postgresql_away_mid_burst_then_back_everything_once(
        db_url: str, backend: str, tmp_path: Path) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite is a file in the service's own process: there is no server to stop")
    url = make_url(db_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    await proxy.up()
    service = Service(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False), tmp_path)
    acks = Acks()
    await service.start()
    try:
        first = new_ids("web", 10)
        for n, submission in enumerate(first):
            await post_web(service.base, submission, f"停电前第{n}件", acks)
        assert set(acks.web) == set(first)

        await proxy.down()
        during = new_ids("web", 10)
        await asyncio.gather(*(post_web(service.base, s, f"停库时第{n}件", acks)
                               for n, s in enumerate(during)))
        faxes = new_ids("fax", 3)
        for message_id in faxes:
            await asyncio.to_thread(send_fax, service.smtp_port, message_id, acks)
        for i in range(4):
            write_incoming_sms(service.modem, f"1390591{i:04d}", f"停库时的短信第{i}条")
        await asyncio.sleep(1.5)  # several modem polls while the database is away
        inbox = service.modem / "sms" / "1"
        assert not set(acks.web) & set(during)  # no receipt while nothing can be stored
        assert {s: acks.web_status[s] for s in during} == {s: [503] for s in during}
        assert acks.fax == {} and acks.fax_replies == {m: [451] for m in faxes}  # the gateway keeps it
        assert len(list(inbox.iterdir())) == 4  # left on the SIM

        await proxy.up()
        for submission in during:  # the citizens press "submit" again
            for _ in range(20):
                await post_web(service.base, submission, "重新提交", acks)
                if submission in acks.web:
                    break
                await asyncio.sleep(0.25)
        for message_id in faxes:  # the gateway's retry
            for _ in range(20):
                await asyncio.to_thread(send_fax, service.smtp_port, message_id, acks)
                if message_id in acks.fax:
                    break
                await asyncio.sleep(0.25)
        await until(lambda: not any(inbox.iterdir()))
    finally:
        service.stop()
        await proxy.down()

    assert set(acks.web) == set(first) | set(during) and set(acks.fax) == set(faxes)
    engine = create_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            counts = {channel: count for channel, count in (await session.execute(
                select(Case.channel, func.count()).group_by(Case.channel))).all()}
            numbers = {c.external_id: c.number for c in (await session.execute(
                select(Case).where(Case.channel == "web"))).scalars()}
    finally:
        await engine.dispose()
    assert counts == {"web": 20, "fax": 3, "sms_modem": 4}
    assert all(numbers[s] == acks.web[s] for s in acks.web)


async def _proxied(db_url: str, backend: str) -> tuple[Proxy, str]:
    if backend != "postgresql":
        pytest.skip("SQLite has no connection to lose")
    url = make_url(db_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    await proxy.up()
    return proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)


async def test_an_idle_pooled_connection_is_pinged_and_replaced(
        db_url: str, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool pings only after idleness (registrar.db); a connection the network dropped
    while it idled is found dead before use and replaced, so the caller never sees it."""
    proxy, url = await _proxied(db_url, backend)
    monkeypatch.setattr("registrar.db.PING_AFTER_IDLE_S", 0.0)  # every checkout counts as idle
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(select(1))
        await proxy.down()  # cuts the pooled connection
        await proxy.up()
        async with engine.connect() as conn:
            assert (await conn.execute(select(1))).scalar_one() == 1
    finally:
        await engine.dispose()
        await proxy.down()


async def test_a_batch_on_a_connection_that_just_died_goes_through_on_a_new_one(
        db_url: str, backend: str, tmp_path: Path, clock: FixedClock) -> None:
    """Under load nothing is pinged; a batch that meets a dropped connection is tried once
    more on a fresh one (safe: registration is idempotent), so its senders are not refused."""
    proxy, url = await _proxied(db_url, backend)
    engine = create_engine(url)
    intake = IntakeService(make_sessionmaker(engine), clock, AttachmentStore(tmp_path / "files"),
                           "FZ12345")
    try:
        first = await intake(_sms("SM-before"))
        await proxy.down()  # within the ping-free second after the connection's last use
        await proxy.up()
        receipts = await asyncio.gather(*(intake(_sms(f"SM-after-{i}")) for i in range(3)))
    finally:
        await engine.dispose()
        await proxy.down()
    assert intake.committer.stats.reconnects == 1
    assert [first.case_number, *(r.case_number for r in receipts)] == [
        f"FZ12345-20261124-{i:06d}" for i in range(1, 5)]


def _sms(external_id: str) -> Envelope:
    return Envelope(channel=Channel.SMS_MODEM, external_id=external_id,
                    received_at=datetime(2026, 11, 24, 9, 58, tzinfo=TZ), text="鼓楼区路灯不亮",
                    sender="+8613905910001", reply_address="+8613905910001")
