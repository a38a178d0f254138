"""Fax replies: the rendered document, and the send through a local email-to-fax gateway."""

from __future__ import annotations

import io
import socket
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader

from channels.fax_smtp.deliver import FaxDeliverer, gateway_address
from channels.fax_smtp.render import (
    FaxReply,
    FontNotFound,
    find_cjk_font,
    render_pdf,
    render_tiff,
)
from channels.fax_smtp.settings import FaxOutboundSettings, FaxSettings
from contract.envelope import Channel
from contract.notice import Notice, SendError

from .conftest import CASE_NUMBER, NOW, GatewayRecorder

ANSWER = ("您反映的鼓楼区五四路工地夜间施工噪音问题，经区城管局现场核查，"
          "已责令施工单位整改，夜间22时后停止施工。感谢您对我市工作的监督！")
BUREAU = "福州市12345政务服务便民热线"


def notice(**overrides: Any) -> Notice:
    base = Notice(notice_id=7, channel=Channel.FAX, address="+8659187654321", text=ANSWER,
                  case_number=CASE_NUMBER, subject="答复")
    return replace(base, **overrides)


def deliverer(port: int, **outbound: Any) -> FaxDeliverer:
    settings = FaxSettings(outbound=FaxOutboundSettings.model_validate(
        {"smtp_port": port, "bureau_name": BUREAU, "timeout_s": 10, **outbound}))
    return FaxDeliverer(settings, clock=lambda: NOW)


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_reply_pdf_carries_case_number_text_date_and_bureau() -> None:
    reply = FaxReply(CASE_NUMBER, ANSWER, date(2026, 11, 24), BUREAU)
    data = render_pdf(reply, find_cjk_font())
    text = pdf_text(data).replace("\n", "")
    assert CASE_NUMBER in text and BUREAU in text and "2026年11月24日" in text
    assert "经区城管局现场核查" in text
    page: Any = PdfReader(io.BytesIO(data)).pages[0]
    fonts = page["/Resources"]["/Font"]
    descendant: Any = next(iter(fonts.values())).get_object()["/DescendantFonts"][0].get_object()
    assert "/FontFile2" in descendant["/FontDescriptor"]  # the CJK font is embedded


def test_long_reply_is_cut_to_two_pages_with_a_pointer_to_the_full_text() -> None:
    reply = FaxReply(CASE_NUMBER, ANSWER * 80, date(2026, 11, 24), BUREAU)
    data = render_pdf(reply, find_cjk_font(), max_pages=2)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 2
    last = reader.pages[1].extract_text()
    assert f"请凭案件编号 {CASE_NUMBER} 查询全文" in last
    assert "第 2 页，共 2 页" in last and BUREAU in last


def test_reply_tiff_is_a_fine_resolution_g4_fax_page() -> None:
    reply = FaxReply(CASE_NUMBER, ANSWER, date(2026, 11, 24), BUREAU)
    with Image.open(io.BytesIO(render_tiff(reply, find_cjk_font()))) as image:
        assert image.format == "TIFF"
        assert image.size == (1728, 2292)
        assert image.info["compression"] == "group4"
        assert tuple(round(v) for v in image.info["dpi"]) == (204, 196)
        ink = image.convert("L").histogram()[0]
        assert 5_000 < ink < 200_000  # text drawn, page not blank nor black


def test_missing_font_fails_with_the_package_to_install() -> None:
    with pytest.raises(FontNotFound, match="does not exist"):
        find_cjk_font("/nonexistent/font.ttc")


@pytest.mark.parametrize(("pattern", "expected"), [
    ("{number}@fax.example", "8659187654321@fax.example"),
    ("{national}@fax.example", "059187654321@fax.example"),
    ("fax={e164}@gw.example", "fax=+8659187654321@gw.example"),
])
def test_gateway_address_pattern(pattern: str, expected: str) -> None:
    assert gateway_address(pattern, "0591-87654321") == expected


def test_bad_fax_number_is_not_retried() -> None:
    with pytest.raises(SendError) as caught:
        gateway_address("{number}@fax.example", "not a number")
    assert caught.value.retryable is False and caught.value.code == "bad_address"


async def test_reply_reaches_email_to_fax_gateway_as_valid_pdf(
        gateway: tuple[GatewayRecorder, int]) -> None:
    recorder, port = gateway
    reference = await deliverer(port).deliver(notice())
    assert "queued as FAXJOB1" in reference
    [(rcpts, _)] = recorder.received
    assert rcpts == ["8659187654321@fax.example"]
    message = recorder.message()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    text = pdf_text(attachment.get_content()).replace("\n", "")
    assert CASE_NUMBER in text and "夜间22时后停止施工" in text


async def test_reply_as_tiff_when_the_gateway_wants_tiff(
        gateway: tuple[GatewayRecorder, int]) -> None:
    recorder, port = gateway
    await deliverer(port, document_format="tiff").deliver(notice())
    [attachment] = list(recorder.message().iter_attachments())
    assert attachment.get_content_type() == "image/tiff"
    with Image.open(io.BytesIO(attachment.get_content())) as image:
        assert image.format == "TIFF" and image.width == 1728


async def test_subject_with_line_break_cannot_add_recipients(
        gateway: tuple[GatewayRecorder, int]) -> None:
    recorder, port = gateway
    await deliverer(port).deliver(notice(subject="答复\r\nBcc: victim@example.com"))
    [(rcpts, _)] = recorder.received
    message = recorder.message()
    assert rcpts == ["8659187654321@fax.example"]
    assert message["Bcc"] is None
    assert "\n" not in str(message["Subject"])


@pytest.mark.parametrize(("reply", "retryable"), [
    ("451 4.3.0 try again later", True),
    ("550 5.1.1 no such fax number", False),
])
async def test_gateway_refusal_is_typed_for_the_outbox(
        gateway: tuple[GatewayRecorder, int], reply: str, retryable: bool) -> None:
    recorder, port = gateway
    recorder.reply = reply
    with pytest.raises(SendError) as caught:
        await deliverer(port).deliver(notice())
    assert caught.value.retryable is retryable
    assert caught.value.code == f"smtp_{reply[:3]}"
    assert recorder.received == []


async def test_unreachable_gateway_is_retryable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SendError) as caught:
        await deliverer(port).deliver(notice())
    assert caught.value.retryable is True and caught.value.code == "connect"
