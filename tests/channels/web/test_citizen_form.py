"""The citizen form end to end through the app factory, on both databases."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from config.settings import Settings
from contract.clock import FixedClock
from intake.app import create_app
from registrar.db import create_engine, make_sessionmaker
from registrar.models import AttachmentRecord, Case, Contact, Notice
from tests.conftest import make_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 100
Client = TestClient[Any, Any]


async def open_form(client: Client) -> dict[str, str]:
    page = await (await client.get("/")).text()
    return {name: re.search(rf'name="{name}" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
            for name in ("csrf", "submission")}


def form(hidden: dict[str, str], **fields: Any) -> aiohttp.MultipartWriter:
    """A multipart body as a browser sends it; bytes values go in raw (e.g. broken UTF-8)."""
    writer = aiohttp.MultipartWriter("form-data")
    values = {"text": "晋安区福新路工地夜间施工噪音扰民", "phone": "13805912345",
              "public": "yes", "district": "晋安区", **hidden, **fields}
    for name, value in values.items():
        files = value if isinstance(value, list) else [value] if isinstance(value, tuple) else []
        for filename, content, content_type in files:
            part = writer.append(content, {"Content-Type": content_type})
            part.set_content_disposition("form-data", name=name, filename=filename)
        if not files:
            raw = value if isinstance(value, bytes) else str(value).encode()
            part = writer.append(raw, {"Content-Type": "text/plain"})
            part.set_content_disposition("form-data", name=name)
    return writer


async def count(settings: Settings, model: type) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await engine.dispose()


async def test_R2_1_web_form_registers_a_case_and_shows_its_number(
        client: Client, settings: Settings) -> None:
    hidden = await open_form(client)
    photo = ("路面.png", PNG, "image/png")
    response = await client.post("/submit", data=form(hidden, attachments=photo),
                                 allow_redirects=False)
    assert response.status == 303
    receipt = await client.get(response.headers["Location"])
    page = await receipt.text()
    number = re.search(r'id="case-number">([^<]+)<', page).group(1)  # type: ignore[union-attr]
    assert number == "FZ12345-20261124-000001"
    engine = create_engine(settings.database_url)
    async with make_sessionmaker(engine)() as session:
        case = (await session.execute(select(Case))).scalar_one()
        assert (case.text, case.sender, case.district_hint, case.public_allowed) == (
            "晋安区福新路工地夜间施工噪音扰民", "+8613805912345", "晋安区", True)
        assert case.query_code in page
        att = (await session.execute(select(AttachmentRecord))).scalar_one()
        assert (att.filename, att.content_type, att.size) == ("路面.png", "image/png", len(PNG))
    await engine.dispose()


async def test_double_click_makes_one_case(client: Client, settings: Settings) -> None:
    hidden = await open_form(client)
    first = await client.post("/submit", data=form(hidden), allow_redirects=False)
    second = await client.post("/submit", data=form(hidden), allow_redirects=False)
    assert first.status == second.status == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert await count(settings, Case) == 1


async def test_R6_4_citizen_can_choose_not_public(client: Client, settings: Settings) -> None:
    hidden = await open_form(client)
    response = await client.post("/submit", data=form(hidden, public="no"), allow_redirects=False)
    assert response.status == 303
    engine = create_engine(settings.database_url)
    async with make_sessionmaker(engine)() as session:
        assert (await session.execute(select(Case.public_allowed))).scalar_one() is False
    await engine.dispose()


BAD_INPUTS = [
    ("empty text", {"text": "   \n "}, "内容不能为空"),
    ("invalid phone", {"phone": "12345"}, "请填写 11 位手机号码"),
    ("no contact at all", {"phone": ""}, "请至少留下手机号码或电子邮箱"),
    ("bad email", {"phone": "", "email": "not-an-email"}, "电子邮箱格式不正确"),
    ("unknown district", {"district": "火星区"}, "请从列表中选择区县"),
    ("text too long", {"text": "长" * 5001}, "内容过长"),
    ("broken utf-8", {"text": b"\xe4\xb8 broken"}, "文字编码无效"),
    ("executable disguised as png", {"attachments": ("a.png", b"MZ\x90\x00" * 20, "image/png")},
     "文件类型不被接受"),
    ("empty file", {"attachments": ("empty.pdf", b"", "application/pdf")}, "是空文件"),
    ("too many files", {"attachments": [("p.png", PNG, "image/png")] * 6}, "最多上传 5 个附件"),
    ("answer by call without a phone", {"phone": "", "email": "a@example.cn", "reply_by": "call"},
     "选择电话答复时，请填写电话号码"),
    ("unknown answer channel", {"reply_by": "pigeon"}, "请选择答复方式"),
]


@pytest.mark.parametrize(("label", "fields", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
async def test_bad_input_gets_a_clear_message_and_stores_nothing(
        client: Client, settings: Settings, label: str, fields: dict[str, Any],
        message: str) -> None:
    hidden = await open_form(client)
    response = await client.post("/submit", data=form(hidden, **fields), allow_redirects=False)
    assert response.status == 400, label
    assert message in await response.text()
    assert await count(settings, Case) == 0


async def test_oversized_upload_is_refused(db_url: str, tmp_path: Path,
                                           clock: FixedClock) -> None:
    settings = make_settings(db_url, tmp_path, web_form={"max_attachment_bytes": 1000})
    async with TestClient(TestServer(create_app(settings, clock=clock))) as client:
        hidden = await open_form(client)
        big = ("big.png", PNG + b"\x00" * 2000, "image/png")
        response = await client.post("/submit", data=form(hidden, attachments=big))
        assert response.status == 400
        assert "超过 0 MB" in await response.text() or "大小限制" in await response.text()
        assert await count(settings, Case) == 0
        assert not (tmp_path / "attachments").exists()


async def test_script_in_the_form_is_rendered_inert(client: Client) -> None:
    hidden = await open_form(client)
    payload = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    response = await client.post("/submit", data=form(hidden, text=payload, phone="bad"))
    page = await response.text()
    assert response.status == 400
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


async def test_post_without_csrf_token_is_refused(client: Client, settings: Settings) -> None:
    hidden = await open_form(client)
    forged = {**hidden, "csrf": "forged.0000"}
    response = await client.post("/submit", data=form(forged))
    assert response.status == 403
    client.session.cookie_jar.clear()
    response = await client.post("/submit", data=form(hidden))
    assert response.status == 403
    assert await count(settings, Case) == 0


async def test_receipt_links_cannot_be_forged(client: Client) -> None:
    response = await client.get("/receipt", params={"n": "FZ12345-20261124-999999",
                                                    "c": "AAAAAAAA", "s": "0" * 32})
    assert response.status == 404


async def test_database_down_gives_try_again_page_and_no_number(
        tmp_path: Path, clock: FixedClock) -> None:
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/down", tmp_path)
    async with TestClient(TestServer(create_app(settings, clock=clock))) as client:
        hidden = await open_form(client)
        response = await client.post("/submit", data=form(hidden), allow_redirects=False)
        assert response.status == 503
        page = await response.text()
        assert "尚未登记" in page and "FZ12345-" not in page
        health = await client.get("/healthz")
        assert health.status == 503


async def test_database_outage_while_running_then_recovery(
        client: Client, settings: Settings, backend: str) -> None:
    """The store goes away under a running app: 503 and nothing partial; back: registered."""
    from intake import keys

    app = client.server.app
    assert app is not None
    real = app[keys.INTAKE].sessionmaker
    app[keys.INTAKE].sessionmaker = make_sessionmaker(
        create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/down"))
    hidden = await open_form(client)
    down = await client.post("/submit", data=form(hidden), allow_redirects=False)
    assert down.status == 503
    app[keys.INTAKE].sessionmaker = real
    again = await client.post("/submit", data=form(hidden), allow_redirects=False)
    assert again.status == 303
    assert await count(settings, Case) == 1
    assert await count(settings, Notice) == 1


async def test_healthz_reports_ok(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["database"] == "ok"


async def test_oversized_body_is_refused_with_413_as_it_arrives(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    settings = make_settings(db_url, tmp_path,
                             web_form={"max_attachment_bytes": 1000, "max_attachments": 1})
    async with TestClient(TestServer(create_app(settings, clock=clock))) as client:
        hidden = await open_form(client)
        huge = ("big.png", PNG + b"\x00" * 2_200_000, "image/png")
        declared = await client.post("/submit", data=form(hidden, attachments=huge))
        assert declared.status == 413  # refused on its Content-Length

        writer = form(hidden, attachments=huge)

        async def streamed() -> Any:  # no Content-Length: counted as it arrives
            class Sink:
                def __init__(self) -> None:
                    self.chunks: list[bytes] = []

                async def write(self, data: bytes) -> None:
                    self.chunks.append(bytes(data))
            sink = Sink()
            await writer.write(sink)  # type: ignore[arg-type]
            for chunk in sink.chunks:
                yield chunk
        chunked = await client.post("/submit", data=streamed(),
                                    headers={"Content-Type": writer.content_type})
        assert chunked.status == 413
        client.session.cookie_jar.clear()
        no_cookie = await client.post("/submit", data=form(hidden, attachments=huge))
        assert no_cookie.status == 403  # the CSRF cookie is checked before the size, before reading
        assert await count(settings, Case) == 0


def bomb_png(width: int, height: int) -> bytes:
    """A PNG header claiming ``width`` x ``height`` pixels; the pixels are never needed."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) \
        + chunk(b"IEND", b"")


async def test_image_over_the_fax_pixel_limits_is_refused(client: Client, settings: Settings) -> None:
    hidden = await open_form(client)
    bomb = ("bomb.png", bomb_png(30000, 30000), "image/png")
    response = await client.post("/submit", data=form(hidden, attachments=bomb))
    assert response.status == 400 and "像素" in await response.text()
    assert await count(settings, Case) == 0


@pytest.mark.parametrize("filename", ["a%ff.png", "a%ED%A0%80.png"])
async def test_upload_name_with_invalid_percent_encoding_is_kept_as_sent_not_a_500(
        client: Client, settings: Settings, filename: str) -> None:
    hidden = await open_form(client)
    # Written by hand: aiohttp's writer would escape the "%" itself.
    boundary = "hostile-boundary"
    fields = {"text": "晋安区福新路工地夜间施工噪音扰民", "phone": "13805912345", "public": "yes",
              "district": "晋安区", **hidden}
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                    f"{value}\r\n".encode() for name, value in fields.items())
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
             f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n').encode()
    body += PNG + f"\r\n--{boundary}--\r\n".encode()
    response = await client.post("/submit", data=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status == 200, await response.text()
    engine = create_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            stored = (await session.execute(select(AttachmentRecord))).scalar_one()
    finally:
        await engine.dispose()
    assert stored.filename == filename


CALLING_WORKER = {"outbox_enabled": False, "sweeper_enabled": False, "voice_channel": "phone"}
"""A site that calls out (the background jobs off, as in every test app)."""


async def _choice(settings: Settings) -> bool:
    engine = create_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return bool((await session.execute(select(Contact.prefers_call))).scalar_one())
    finally:
        await engine.dispose()


async def test_answer_by_call_is_offered_where_the_site_calls_out_and_kept_on_the_contact(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    """答复方式 (issue 14): 短信 by default; 电话 makes a mobile's notices calls."""
    settings = make_settings(db_url, tmp_path, worker=CALLING_WORKER)
    async with TestClient(TestServer(create_app(settings, clock=clock))) as client:
        page = await (await client.get("/")).text()
        assert "<legend>答复方式" in page
        assert re.search(r'<input type="radio" name="reply_by" value="sms" checked>', page)
        assert '<label class="inline"><input type="radio" name="reply_by" value="call">' in page
        hidden = await open_form(client)
        response = await client.post("/submit", data=form(hidden, reply_by="call"),
                                     allow_redirects=False)
        assert response.status == 303
    assert await _choice(settings)


async def test_answer_by_call_is_not_offered_without_a_voice_channel(
        client: Client, settings: Settings) -> None:
    page = await (await client.get("/")).text()
    assert 'name="reply_by"' not in page
    hidden = await open_form(client)
    assert (await client.post("/submit", data=form(hidden), allow_redirects=False)).status == 303
    assert not await _choice(settings)
