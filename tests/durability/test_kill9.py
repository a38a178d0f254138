"""``kill -9`` of the service in the middle of a burst of web, SMTP and modem intake.

DESIGN invariant 1 and 2 under the worst stop there is: after a restart every
item whose sender was acknowledged (a receipt page, an SMTP 250, its SMS gone
from the SIM) is stored exactly once and whole (its registered event and its
place in the city bureau's queue); items that were not acknowledged are either
absent or stored whole, and a sender's retry of them makes no second case.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from channels.sms_gammu import write_incoming_sms
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Assignment, Case, Event
from tests.durability.server import Acks, Service, new_ids, post_web, send_fax, until

pytestmark = pytest.mark.durability

WEB_ITEMS = 60
FAX_ITEMS = 6
SMS_ITEMS = 8


async def _burst(service: Service, acks: Acks, *, kill_after_acks: int) -> None:
    """Fire every sender at once; SIGKILL the service once ``kill_after_acks`` web items got
    receipts, so the kill lands while requests are in flight."""
    for i in range(SMS_ITEMS):
        write_incoming_sms(service.modem, f"1380591{i:04d}", f"鼓楼区第{i}号路灯不亮，请修理")
    async def citizen(n: int, submission: str) -> None:
        await asyncio.sleep(0.01 * n)  # citizens arrive over 0.6 s, not all in one instant
        await post_web(service.base, submission, f"仓山区井盖缺失第{n}处", acks)

    web = [asyncio.create_task(citizen(n, sid)) for n, sid in enumerate(new_ids("web", WEB_ITEMS))]
    faxes = [asyncio.create_task(asyncio.to_thread(send_fax, service.smtp_port, mid, acks))
             for mid in new_ids("fax", FAX_ITEMS)]
    await until(lambda: len(acks.web) >= kill_after_acks or all(t.done() for t in web),
                every_s=0.002)
    service.kill()
    await asyncio.gather(*web, *faxes)


async def _retry_unacknowledged(service: Service, acks: Acks) -> None:
    """What senders do: the browser user submits again, the gateway resends the fax."""
    for submission in [s for s in acks.web_tried if s not in acks.web]:
        await post_web(service.base, submission, "重新提交", acks)
    for message_id in [m for m in acks.fax_tried if m not in acks.fax]:
        await asyncio.to_thread(send_fax, service.smtp_port, message_id, acks)


async def _wait_for_the_sim_to_empty(service: Service) -> None:
    inbox = service.modem / "sms" / "1"
    await until(lambda: not any(inbox.iterdir()))


async def test_kill_9_mid_burst_loses_and_duplicates_nothing_acknowledged(
        db_url: str, tmp_path: Path) -> None:
    service = Service(db_url, tmp_path)
    acks = Acks()
    await service.start()
    try:
        await _burst(service, acks, kill_after_acks=WEB_ITEMS // 4)
        assert acks.web, service.log_tail()
        before_restart = dict(acks.web), dict(acks.fax)
        await service.start()
        await _retry_unacknowledged(service, acks)
        await _wait_for_the_sim_to_empty(service)
    finally:
        service.stop()

    engine = create_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            cases = {c.external_id: c for c in (await session.execute(select(Case))).scalars()}
            registered = set((await session.execute(select(Event.case_id).where(
                Event.action == "registered"))).scalars())
            queued = set((await session.execute(select(Assignment.case_id))).scalars())
            per_channel = {channel: count for channel, count in (await session.execute(
                select(Case.channel, func.count()).group_by(Case.channel))).all()}
    finally:
        await engine.dispose()

    web_before, fax_before = before_restart
    assert len(web_before) < WEB_ITEMS  # the kill landed while citizens were still waiting
    for submission, number in web_before.items():  # acknowledged before the kill: kept as told
        assert cases[submission].number == number
    assert set(acks.web) == set(acks.web_tried)  # every citizen has a receipt in the end
    for submission, number in acks.web.items():
        assert cases[submission].number == number
    fax_cases = [c for c in cases.values() if c.channel == "fax"]
    assert len(fax_cases) == FAX_ITEMS == len(acks.fax)
    assert all(any(mid in c.external_id for c in fax_cases) for mid in fax_before)
    assert per_channel == {"web": WEB_ITEMS, "fax": FAX_ITEMS, "sms_modem": SMS_ITEMS}
    whole = {c.id for c in cases.values()}
    assert whole <= registered and whole <= queued  # never half-stored
