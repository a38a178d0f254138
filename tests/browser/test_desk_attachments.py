"""Issue 13 item 7: photos and fax pages as thumbnails on the case page; the handler picks an
answer template and attaches a site photo to the answer."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from PIL import Image
from sqlalchemy import select

from contract.envelope import Attachment, Channel, Envelope
from desks.staff.deps import DESK
from forwarder import workflow as wf
from intake import keys
from registrar.models import Event
from tests.browser.conftest import Shots
from tests.browser.kit import seed_accounts, sign_in
from tests.forwarder import kit


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


async def test_R8_2a_thumbnails_answer_template_and_site_photo(
        server: TestServer, page: Any, shots: Shots, tmp_path: Path) -> None:
    await seed_accounts(server)
    envelope = Envelope(channel=Channel.WEB, external_id="with-photo", text="五四路路灯不亮，附照片",
                        sender="+8613905910001", reply_address="+8613905910001",
                        received_at=server.app[keys.CLOCK].now(),
                        attachments=(Attachment("路灯.jpg", "image/jpeg", _jpeg((200, 40, 40))),))
    number = (await server.app[keys.INTAKE](envelope)).case_number
    ctx = server.app[DESK].ctx
    async with server.app[keys.SESSIONMAKER].begin() as session:
        await kit.dispatched(session, ctx, number)
        lead = await kit.lead_of(session, number, "city-urban")
        await wf.read(session, ctx, lead.id, kit.URBAN)
    await sign_in(server, page, "urban")
    await page.goto(str(server.make_url(f"/desk/cases/{number}")))
    widths = await page.evaluate(
        "Promise.all([...document.querySelectorAll('#thumbnails img')]"
        ".map(i => i.decode().then(() => i.naturalWidth)))")
    assert widths == [320]
    await page.select_option(f"#template-{lead.id}", label="已现场处理")
    assert "派员到现场核查处理" in await page.input_value(f"#answer-{lead.id}")
    await shots.take(page, "template-and-thumbnail")

    site = tmp_path / "现场.jpg"
    site.write_bytes(_jpeg((40, 160, 40)))
    await page.set_input_files(f"#photo-{lead.id}", str(site))
    await page.click(f"#btn-photo-{lead.id}")
    await page.wait_for_selector("#photo-note.ok")
    assert await page.locator("#thumbnails figure.answer-photo").count() == 1
    assert "答复附现场照片" in await page.inner_text("#thumbnails")
    await shots.take(page, "site-photo-attached")
    async with server.app[keys.SESSIONMAKER]() as session:
        event = (await session.execute(select(Event).where(Event.action == "answer_photo"))).scalar_one()
    assert event.data["assignment"] == lead.id


async def test_a_city_bureau_cannot_attach_a_photo_to_a_units_answer(
        server: TestServer, page: Any) -> None:
    await seed_accounts(server)
    envelope = Envelope(channel=Channel.WEB, external_id="no-photo", text="五四路路灯不亮",
                        sender="+8613905910001", reply_address="+8613905910001",
                        received_at=server.app[keys.CLOCK].now())
    number = (await server.app[keys.INTAKE](envelope)).case_number
    async with server.app[keys.SESSIONMAKER].begin() as session:
        await kit.dispatched(session, server.app[DESK].ctx, number)
        lead = await kit.lead_of(session, number, "city-urban")
    await sign_in(server, page, "city")
    await page.goto(str(server.make_url(f"/desk/cases/{number}")))
    assert await page.locator(f"#photo-{lead.id}").count() == 0  # not offered
    post = """async ([id, bytes]) => { const f = new FormData();
        f.append('csrf', document.querySelector('meta[name="csrf-token"]').content);
        f.append('photo', new Blob([new Uint8Array(bytes)], {type: 'image/jpeg'}), 'x.jpg');
        return (await fetch(`/desk/assignments/${id}/photo`, {method: 'POST', body: f})).status; }"""
    # A real photo, posted by hand: forwarder.answer_media refuses it (not the unit's answer).
    assert await page.evaluate(post, [lead.id, list(_jpeg((1, 2, 3)))]) == 403
    # Bytes that only start like a JPEG are no photo: refused before any rule, back to the case.
    assert await page.evaluate(post, [lead.id, [0xFF, 0xD8, 0xFF, 0xE0]]) == 200
    async with server.app[keys.SESSIONMAKER]() as session:
        assert (await session.execute(select(Event).where(Event.action == "answer_photo"))).first() is None
