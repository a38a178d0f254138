"""The agent console through the whole app: calls logged, screen pops, faxes typed in (R5.1, R3.8, R8.5)."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from sqlalchemy import select

from contract.clock import FixedClock
from contract.envelope import MACHINE_TEXT_MARK, Attachment, Channel, Envelope, Receipt
from contract.transcript import voice_placeholder
from desks.access.accounts import demo_password, seed_demo_accounts
from desks.console import announce_call
from desks.console.hub import HUB
from intake import keys
from intake.app import create_app
from registrar.models import Case, Contact, Event, Notice
from tests.channels.web.test_citizen_form import CALLING_WORKER
from tests.conftest import make_settings
from tests.forwarder.api_kit import FAST_HASHER

Client = TestClient[Any, Any]
CALLER = "13805912345"
CALLER_E164 = "+8613805912345"


def png_page(label: int) -> bytes:
    """A small real PNG (a 'fax page') that differs per ``label``."""
    buffer = io.BytesIO()
    Image.new("L", (120, 170), color=255 - label).save(buffer, format="PNG")
    return buffer.getvalue()


async def staff(client: Client) -> Client:
    async with client.app[keys.SESSIONMAKER].begin() as session:
        await seed_demo_accounts(session, client.app[keys.CLOCK].now(), hasher=FAST_HASHER)
    return client


async def sign_in(client: Client, user: str) -> None:
    client.session.cookie_jar.clear()
    response = await client.post("/desk/login", data={"username": user, "password": demo_password(user)},
                                 allow_redirects=False)
    assert response.status == 303, await response.text()


def field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page) or re.search(
        rf'name="{name}" content="([^"]*)"', page)
    assert match, f"no {name} on the page"
    return match.group(1)


async def open_form(client: Client) -> dict[str, str]:
    page = await (await client.get("/desk/console")).text()
    return {"csrf": field(page, "csrf"), "form_id": field(page, "form_id")}


def call(form: dict[str, str], **overrides: str) -> dict[str, str]:
    data = {**form, "caller": CALLER, "name": "王先生", "text": "鼓楼区五四路路灯不亮已经一周",
            "category": "城管", "district": "鼓楼区", "location": "五四路 120 号", "public": "yes",
            "reply": "caller", "reply_to": ""}
    data.update(overrides)
    return data


async def cases(client: Client) -> list[Case]:
    async with client.app[keys.SESSIONMAKER]() as session:
        return list((await session.execute(select(Case).order_by(Case.id))).scalars())


async def register(client: Client, text: str, *, sender: str | None = CALLER_E164,
                   channel: Channel = Channel.SMS_MODEM, ext: str, public: bool = True,
                   attachments: tuple[Attachment, ...] = (), minutes: int = 0) -> Receipt:
    envelope = Envelope(channel=channel, external_id=ext, text=text, sender=sender,
                        reply_address=sender, public_allowed=public, attachments=attachments,
                        received_at=client.app[keys.CLOCK].now() - timedelta(minutes=minutes))
    receipt: Receipt = await client.app[keys.INTAKE](envelope)
    return receipt


async def register_fax(client: Client, *, ext: str = "fax-1", pages: int = 2, ocr: str = "",
                       minutes: int = 0) -> Receipt:
    text = f"[传真 {pages} 页，待坐席录入]" + (f"\n\n【机器识别，待人工核对】\n{ocr}" if ocr else "")
    files = tuple(Attachment(f"fax-page-{n:03d}.png", "image/png", png_page(n + len(ext)))
                  for n in range(1, pages + 1))
    return await register(client, text, sender="+8659187654321", channel=Channel.FAX, ext=ext,
                          attachments=files, minutes=minutes)


@pytest.fixture
async def agent(client: Client) -> Client:
    await staff(client)
    await sign_in(client, "agent")
    return client


async def test_R5_1_a_call_logged_by_an_agent_becomes_a_phone_case_with_the_number_to_read_back(
        agent: Client) -> None:
    response = await agent.post("/desk/console", data=call(await open_form(agent)))
    page = await response.text()
    assert response.status == 200
    [case] = await cases(agent)
    assert f'id="case-number">{case.number}<' in page and f'id="query-code">{case.query_code}<' in page
    assert (case.channel, case.sender, case.reply_address) == ("phone", CALLER_E164, CALLER_E164)
    assert (case.display_name, case.district_hint, case.public_allowed) == ("王先生", "鼓楼区", True)
    assert case.notes == ["agent=agent", "category=城管"] and case.emergency is None
    async with agent.app[keys.SESSIONMAKER]() as session:
        receipt = (await session.execute(select(Notice).where(Notice.case_id == case.id))).scalar_one()
    assert receipt.status == "sent"  # read to the caller on the line, not texted again
    assert 'id="emergency-advice"' not in page


async def test_R5_1_double_submit_of_one_form_makes_one_case(agent: Client) -> None:
    data = call(await open_form(agent))
    first = await (await agent.post("/desk/console", data=data)).text()
    second = await (await agent.post("/desk/console", data={**data, "text": "改过的内容"})).text()
    [case] = await cases(agent)
    assert case.number in first and case.number in second and case.text == "鼓楼区五四路路灯不亮已经一周"
    assert 'id="already-registered"' in second and 'id="already-registered"' not in first
    assert field(first, "form_id") != data["form_id"]  # the next call gets a fresh form


async def test_invalid_phone_is_shown_on_the_form_and_nothing_is_stored(agent: Client) -> None:
    response = await agent.post("/desk/console", data=call(await open_form(agent), caller="12345"))
    page = await response.text()
    assert response.status == 400
    assert 'id="caller-error"' in page and "电话号码无效" in page
    assert "鼓楼区五四路路灯不亮已经一周" in page  # what was typed stays
    assert await cases(agent) == []


async def test_other_reply_address_keeps_the_caller_as_fallback(agent: Client) -> None:
    await agent.post("/desk/console", data=call(await open_form(agent), reply="other",
                                                reply_to="wang@example.cn", category="住建"))
    [case] = await cases(agent)
    assert (case.sender, case.reply_address) == (CALLER_E164, "wang@example.cn")


async def test_R3_8_emergency_words_show_the_banner_and_mark_the_case(agent: Client) -> None:
    page = await (await agent.post("/desk/console", data=call(
        await open_form(agent), text="楼下餐馆着火了，浓烟很大"))).text()
    [case] = await cases(agent)
    assert case.emergency == "119"
    assert 'id="emergency-advice"' in page and "119" in page
    live = await (await agent.get("/desk/console/screen", params={"text": "有人晕倒了"})).json()
    quiet = await (await agent.get("/desk/console/screen", params={"text": "路灯不亮"})).json()
    assert "120" in live["advice"] and quiet["advice"] == ""


async def test_only_agents_use_the_console(client: Client) -> None:
    await staff(client)
    await sign_in(client, "urban")
    for path in ("/desk/console", "/desk/console/history?phone=13805912345",
                 "/desk/console/screen?text=x", "/desk/console/faxes"):
        response = await client.get(path)
        assert response.status == 403, path
    assert "无权访问" in await (await client.get("/desk/console")).text()
    client.session.cookie_jar.clear()
    response = await client.get("/desk/console", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/desk/login")


async def test_R8_5_history_lists_the_callers_earlier_cases_only(agent: Client) -> None:
    for n in range(12):
        await register(agent, f"第{n}次反映噪音扰民", ext=f"mine-{n}", minutes=100 - n)
    await register(agent, "别人的诉求", sender="+8613905910001", ext="other")
    await register(agent, "不同意公开的诉求", ext="private", public=False)  # internal: agents never see it
    body = await (await agent.get("/desk/console/history", params={"phone": "138 0591 2345"})).json()
    assert body["phone"] == CALLER_E164 and body["total"] == 12
    assert [c["text"] for c in body["cases"]] == [f"第{n}次反映噪音扰民" for n in range(11, 1, -1)]
    assert {c["status"] for c in body["cases"]} == {"已登记，等待受理"}
    bad = await agent.get("/desk/console/history", params={"phone": "12"})
    assert bad.status == 400 and "电话号码" in (await bad.json())["error"]


async def test_websocket_pops_an_announced_call_to_connected_agents(agent: Client) -> None:
    async with agent.ws_connect("/desk/console/ws") as ws:
        assert (await ws.receive_json(timeout=5)) == {"type": "hello", "agent": "agent"}
        assert agent.app[HUB].agents() == ["agent"]
        assert await announce_call(agent.app, CALLER_E164) == 1
        assert (await ws.receive_json(timeout=5)) == {"type": "call", "caller": CALLER_E164}
        assert await announce_call(agent.app, CALLER_E164, agent="someone-else") == 0
        await ws.send_str("ping")
        assert (await ws.receive_json(timeout=5)) == {"type": "pong"}
    for _ in range(50):  # the server notices the close on its side
        if not agent.app[HUB].count():
            break
        await asyncio.sleep(0.02)
    assert agent.app[HUB].count() == 0
    assert await announce_call(agent.app, CALLER_E164) == 0


async def test_websocket_refuses_non_agents_and_strangers(client: Client) -> None:
    await staff(client)
    await sign_in(client, "city")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/desk/console/ws")
    assert refused.value.status == 403
    await sign_in(client, "agent")
    with pytest.raises(aiohttp.WSServerHandshakeError) as cross_site:
        await client.ws_connect("/desk/console/ws", headers={"Origin": "https://evil.example"})
    assert cross_site.value.status == 403
    client.session.cookie_jar.clear()
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.ws_connect("/desk/console/ws")
    assert client.app[HUB].count() == 0


async def test_R5_1_fax_waits_for_an_agent_and_the_transcription_keeps_the_placeholder(
        agent: Client) -> None:
    second = await register_fax(agent, ext="fax-new", minutes=1)
    first = await register_fax(agent, ext="fax-old", minutes=30, ocr="鼓楼区温泉路积水严重")
    await register(agent, "短信诉求", ext="sms-1")
    listing = await (await agent.get("/desk/console/faxes")).text()
    assert listing.index(first.case_number) < listing.index(second.case_number)
    assert "短信诉求" not in listing and 'id="fax-count">2<' in listing
    page = await (await agent.get(f"/desk/console/faxes/{first.case_number}")).text()
    assert page.count('class="fax-page" src="/desk/attachments/') == 2
    assert 'id="machine-text-note"' in page and ">鼓楼区温泉路积水严重</textarea>" in page
    typed = "鼓楼区温泉路 88 号门口积水，请疏通。"
    saved = await agent.post(f"/desk/console/faxes/{first.case_number}", allow_redirects=False,
                             data={"csrf": field(page, "csrf"), "text": typed, "category": "城管"})
    assert saved.status == 303
    assert saved.headers["Location"] == f"/desk/console/faxes/{second.case_number}?saved={first.case_number}"
    async with agent.app[keys.SESSIONMAKER]() as session:
        case = (await session.execute(select(Case).where(Case.number == first.case_number))).scalar_one()
        event = (await session.execute(select(Event).where(
            Event.case_id == case.id, Event.action == "transcribed"))).scalar_one()
    assert case.text == typed and event.actor == "李秀英@service-centre"
    assert event.data["previous_text"].startswith("[传真 2 页，待坐席录入]")
    again = await agent.post(f"/desk/console/faxes/{first.case_number}",
                             data={"csrf": field(page, "csrf"), "text": "别的内容", "category": "城管"})
    assert again.status == 409 and "已由其他坐席录入" in await again.text()


async def test_transcription_is_for_agents_and_the_city_bureau_and_only_for_faxes(client: Client) -> None:
    await staff(client)
    fax = await register_fax(client, ocr="")
    sms = await register(client, "短信诉求", ext="sms-1")
    await sign_in(client, "urban")
    token = field(await (await client.get("/desk/password")).text(), "csrf-token")
    denied = await client.post(f"/desk/console/faxes/{fax.case_number}", data={"csrf": token, "text": "x"})
    assert denied.status == 403
    await sign_in(client, "city")
    token = field(await (await client.get(f"/desk/console/faxes/{fax.case_number}")).text(), "csrf")
    not_fax = await client.post(f"/desk/console/faxes/{sms.case_number}", data={"csrf": token, "text": "x"})
    assert not_fax.status == 404
    done = await client.post(f"/desk/console/faxes/{fax.case_number}", allow_redirects=False,
                             data={"csrf": token, "text": "有人被困电梯，请处理", "category": "住建"})
    assert done.status == 303 and done.headers["Location"] == f"/desk/console/faxes?saved={fax.case_number}"
    listing = await (await client.get(done.headers["Location"])).text()
    assert 'id="no-faxes"' in listing and "119" in listing  # R3.8 on the transcribed text
    [case] = [c for c in await cases(client) if c.number == fax.case_number]
    assert (case.text, case.emergency) == ("有人被困电梯，请处理", "119")
    assert [c.text for c in await cases(client) if c.number == sms.case_number] == ["短信诉求"]


async def test_attachments_are_served_to_staff_who_may_see_the_case(client: Client) -> None:
    await staff(client)
    fax = await register_fax(client, pages=1)
    private = Attachment("photo.png", "image/png", png_page(99))
    await register(client, "不同意公开", ext="private", public=False, attachments=(private,))
    assert fax.created
    page = png_page(1 + len("fax-1"))
    digest = Attachment("x", "image/png", page).sha256
    anonymous = await client.get(f"/desk/attachments/{digest}", allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/desk/login")
    await sign_in(client, "agent")
    shown = await client.get(f"/desk/attachments/{digest}")
    assert shown.status == 200 and await shown.read() == page
    assert shown.headers["Content-Type"] == "image/png"
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    assert shown.headers["Content-Disposition"].startswith("inline;")
    assert (await client.get(f"/desk/attachments/{private.sha256}")).status == 404  # internal (R6.4)
    assert (await client.get(f"/desk/attachments/{'0' * 64}")).status == 404
    assert (await client.get("/desk/attachments/not-a-hash")).status == 404
    await sign_in(client, "urban")  # a unit sees only cases assigned to it
    assert (await client.get(f"/desk/attachments/{digest}")).status == 404
    await sign_in(client, "city")
    assert (await client.get(f"/desk/attachments/{private.sha256}")).status == 200


async def test_R5_1_voicemail_waits_beside_its_recording_with_machine_text_to_check(
        agent: Client) -> None:
    placeholder = voice_placeholder(40)
    heard = f"{placeholder}\n\n{MACHINE_TEXT_MARK}\n仓山区 井盖 缺失"
    voice = await register(agent, heard, channel=Channel.TWILIO_VOICE, ext="CA-voice",
                           attachments=(Attachment("voicemail.wav", "audio/wav", b"RIFF-demo"),))
    await register(agent, placeholder, ext="sms-lookalike")  # an SMS is never a recording
    listing = await (await agent.get("/desk/console/faxes")).text()
    assert voice.case_number in listing and 'id="fax-count">1<' in listing
    page = await (await agent.get(f"/desk/console/faxes/{voice.case_number}")).text()
    assert re.search(r'<audio class="recording" controls preload="metadata" '
                     r'src="/desk/attachments/[0-9a-f]{64}"', page)
    assert 'id="machine-text-note"' in page and ">仓山区 井盖 缺失</textarea>" in page
    saved = await agent.post(f"/desk/console/faxes/{voice.case_number}", allow_redirects=False,
                             data={"csrf": field(page, "csrf"), "text": "仓山区金山大道井盖缺失",
                                   "category": "城管"})
    assert saved.status == 303
    [case] = [c for c in await cases(agent) if c.number == voice.case_number]
    assert case.text == "仓山区金山大道井盖缺失"


async def test_image_over_the_pixel_limits_is_a_download_never_shown_inline(
        client: Client) -> None:
    from tests.channels.web.test_citizen_form import bomb_png

    await staff(client)
    bomb = Attachment("bomb.png", "image/png", bomb_png(30000, 30000))
    await register(client, "照片见附件", ext="bomb", attachments=(bomb,))
    await sign_in(client, "city")
    served = await client.get(f"/desk/attachments/{bomb.sha256}")
    assert served.status == 200
    assert served.headers["Content-Disposition"].startswith("attachment;")
    assert served.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


def _wav(seconds: float = 1.0) -> bytes:
    """A real 8 kHz mono PCM16 WAV (a voicemail as the phone line stores it)."""
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(range(256)) * int(16000 * seconds / 256))
    return buffer.getvalue()


async def test_voicemail_audio_plays_in_the_case_page_with_range_for_staff_who_may_see_it(
        client: Client) -> None:
    await staff(client)
    wav = _wav()
    recording = Attachment("voicemail-abc.wav", "audio/wav", wav)
    heard = f"{voice_placeholder(1)}\n\n{MACHINE_TEXT_MARK}\n仓山区 井盖 缺失"
    voice = await register(client, heard, channel=Channel.PHONE, ext="sip-call-1",
                           attachments=(recording,))
    url = f"/desk/attachments/{recording.sha256}"
    anonymous = await client.get(url, allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/desk/login")
    await sign_in(client, "agent")
    page = await (await client.get(f"/desk/cases/{voice.case_number}")).text()
    assert re.search(rf'<audio class="recording" controls preload="metadata" src="{url}"', page)
    assert '<span class="transcript" data-content>【机器识别，待人工核对】\n仓山区 井盖 缺失</span>' in page
    whole = await client.get(url)
    assert whole.status == 200 and await whole.read() == wav
    assert whole.headers["Content-Type"] == "audio/wav"
    assert whole.headers["Content-Disposition"].startswith("inline;")
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = await client.get(url, headers={"Range": "bytes=44-99"})  # a browser seeking
    assert part.status == 206 and await part.read() == wav[44:100]
    assert part.headers["Content-Range"] == f"bytes 44-99/{len(wav)}"
    tail = await client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status == 206 and await tail.read() == wav[-10:]
    beyond = await client.get(url, headers={"Range": f"bytes={len(wav) + 5}-"})
    assert beyond.status == 416
    garbage = await client.get(url, headers={"Range": "bytes=z-q"})
    assert garbage.status in (200, 416)  # ignored or refused, never a 500
    for odd in ("/desk/attachments/..%2F..%2Fetc%2Fpasswd", "/desk/attachments/" + "g" * 64,
                "/desk/attachments/" + recording.sha256[:-1], "/desk/attachments/%00"):
        assert (await client.get(odd)).status == 404, odd
    assert (await client.get(url.upper().replace("/DESK/ATTACHMENTS/", "/desk/attachments/"))).status == 200
    await sign_in(client, "urban")  # a unit the case was never sent to
    assert (await client.get(url)).status == 404
    await sign_in(client, "agent")
    client.app[keys.INTAKE].store.path_for(recording.sha256).unlink()  # the file lost on disk
    assert (await client.get(url)).status == 404


@pytest.fixture
async def calling_agent(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Client]:
    """An agent of a site that calls out (``worker.voice_channel``): 答复形式 is offered."""
    settings = make_settings(db_url, tmp_path / "data", worker=CALLING_WORKER)
    async with TestClient(TestServer(create_app(settings, clock=clock))) as client:
        await staff(client)
        await sign_in(client, "agent")
        yield client


async def test_answer_by_call_chosen_on_the_console_is_kept_on_the_reply_phone(
        calling_agent: Client) -> None:
    page = await (await calling_agent.get("/desk/console")).text()
    assert '<label for="reply_by">答复形式</label>' in page
    assert '<option value="sms" selected>' in page  # SMS unless the caller asks for a call
    response = await calling_agent.post("/desk/console", data=call(
        await open_form(calling_agent), reply_by="call"))
    assert response.status == 200
    async with calling_agent.app[keys.SESSIONMAKER]() as session:
        contact = (await session.execute(select(Contact))).scalar_one()
    assert (contact.address, contact.prefers_call) == (CALLER_E164, True)


async def test_answer_by_call_to_an_email_is_refused_with_what_to_do(calling_agent: Client) -> None:
    response = await calling_agent.post("/desk/console", data=call(
        await open_form(calling_agent), reply="other", reply_to="wang@example.cn", reply_by="call"))
    assert response.status == 400
    assert "电话答复需要电话号码" in await response.text()
    assert await cases(calling_agent) == []


async def test_answer_by_call_is_not_offered_where_the_site_places_no_calls(agent: Client) -> None:
    assert 'name="reply_by"' not in await (await agent.get("/desk/console")).text()
