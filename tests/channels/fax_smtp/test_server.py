"""The real SMTP server in the test's loop, fed by smtplib as the fax gateway.

Proves the acknowledgement rule: 250 only after the sink committed, 451 when
it cannot (and the retry makes no duplicate), 550/552 with a reason for what
is refused, and nothing handed to the sink for refused mail.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from contract.envelope import MACHINE_TEXT_MARK, Envelope, Receipt
from contract.normalise import InvalidInput

from .conftest import CASE_NUMBER, NOW, RecordingSink, ServerFactory, fixture, send_fax
from .test_parse import BAD, GOOD


async def test_R5_1_fax_gets_250_with_case_number_after_commit(
        fax_server: ServerFactory, sink: RecordingSink) -> None:
    async with fax_server(sink) as running:
        result = await send_fax(running.port, fixture("hylafax_faxrcvd_two_pages_tiff.eml"))
    assert (result.code, result.stage) == (250, "data")
    assert CASE_NUMBER in result.message
    [env] = sink.envelopes
    assert env.received_at == NOW
    assert env.text == "[传真 2 页，待坐席录入]"
    assert env.sender == "+8659187654321"
    assert len(env.attachments) == 4  # .eml, .tif, two page thumbnails


@pytest.mark.parametrize(("name", "sender", "source", "pages", "resolution"), GOOD)
async def test_every_recorded_format_is_registered_once(
        fax_server: ServerFactory, sink: RecordingSink, name: str, sender: str | None,
        source: str, pages: int, resolution: str) -> None:
    async with fax_server(sink) as running:
        result = await send_fax(running.port, fixture(name))
    assert result.code == 250, result.message
    [env] = sink.envelopes
    assert env.sender == sender
    assert f"fax.pages={pages}" in env.notes
    assert f"fax.resolution={resolution}" in env.notes


@pytest.mark.parametrize(("name", "code", "reason"), BAD)
async def test_bad_fax_mail_is_refused_and_nothing_registered(
        fax_server: ServerFactory, sink: RecordingSink, name: str, code: int,
        reason: str) -> None:
    async with fax_server(sink) as running:
        result = await send_fax(running.port, fixture(name))
    assert result.code == code
    assert reason in result.message
    assert result.message.isascii()
    assert sink.calls == 0


async def test_refusal_naming_a_chinese_filename_is_still_an_ascii_reply(
        fax_server: ServerFactory, sink: RecordingSink) -> None:
    from email.message import EmailMessage
    from email.policy import SMTP

    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "gw@fax.example", "Fax", "<cn@fax.example>"
    msg.add_attachment(b"junk" * 10, maintype="image", subtype="tiff", filename="传真.tif")
    async with fax_server(sink) as running:
        result = await send_fax(running.port, msg.as_bytes(policy=SMTP))
    assert result.code == 550 and result.message.isascii()
    assert "\\u4f20\\u771f.tif" in result.message
    assert sink.calls == 0


async def test_store_down_answers_451_and_retry_makes_one_case(
        fax_server: ServerFactory) -> None:
    sink = RecordingSink(down=1)
    raw = fixture("provider_number_in_header_tiff.eml")
    async with fax_server(sink) as running:
        first = await send_fax(running.port, raw)
        second = await send_fax(running.port, raw)
        third = await send_fax(running.port, raw)
    assert first.code == 451 and "retry" in first.message
    assert second.code == 250 and "registered as case" in second.message
    assert third.code == 250 and "already registered" in third.message
    assert len(sink.created) == 1
    assert {e.external_id for e in sink.envelopes} == {"p3-20261124@fax.provider.example"}


async def test_unexpected_sink_failure_is_451_never_250(fax_server: ServerFactory) -> None:
    sink = RecordingSink(fail_with=RuntimeError)
    async with fax_server(sink) as running:
        result = await send_fax(running.port, fixture("provider_number_in_header_tiff.eml"))
    assert result.code == 451
    assert sink.calls == 1 and not sink.created


async def test_item_intake_refuses_as_invalid_gets_550_with_reason(
        fax_server: ServerFactory) -> None:
    async def refusing_sink(envelope: Envelope) -> Receipt:
        raise InvalidInput("text", "内容过长")

    async with fax_server(refusing_sink) as running:
        result = await send_fax(running.port, fixture("provider_number_in_header_tiff.eml"))
    assert result.code == 550 and "refused by intake (text)" in result.message
    assert "\\u5185" in result.message  # the Chinese reason, escaped to ASCII


async def test_no_reply_reaches_the_gateway_before_the_sink_returns(
        fax_server: ServerFactory) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_sink(envelope: Envelope) -> Receipt:
        entered.set()
        await release.wait()
        return Receipt(CASE_NUMBER, created=True)

    async with fax_server(slow_sink) as running:
        sending = asyncio.create_task(
            send_fax(running.port, fixture("provider_number_in_header_tiff.eml")))
        await asyncio.wait_for(entered.wait(), 10)
        await asyncio.sleep(0.05)  # give a premature reply the chance to arrive
        assert not sending.done()
        release.set()
        result = await asyncio.wait_for(sending, 10)
    assert result.code == 250


async def test_mail_from_unlisted_gateway_is_refused_with_550(
        fax_server: ServerFactory, sink: RecordingSink) -> None:
    async with fax_server(sink, allowed_gateways=("10.0.0.0/8",)) as running:
        result = await send_fax(running.port, fixture("hylafax_faxrcvd_two_pages_tiff.eml"))
    assert (result.code, result.stage) == (550, "mail")
    assert "not an allowed fax gateway" in result.message
    assert sink.calls == 0


@pytest.fixture(scope="module")
def gateway_hash() -> str:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("s3cret")


async def test_authenticated_gateway_outside_the_list_is_accepted(
        fax_server: ServerFactory, sink: RecordingSink, gateway_hash: str) -> None:
    async with fax_server(sink, allowed_gateways=("10.0.0.0/8",),
                          auth_users={"faxgw": gateway_hash},
                          auth_require_tls=False) as running:
        good = await send_fax(running.port, fixture("provider_number_in_header_tiff.eml"),
                              login=("faxgw", "s3cret"))
        bad = await send_fax(running.port, fixture("provider_number_in_header_tiff.eml"),
                             login=("faxgw", "wrong"))
    assert good.code == 250
    assert (bad.code, bad.stage) == (535, "auth")
    assert len(sink.envelopes) == 1


async def test_smtp_auth_attempts_are_limited_per_peer(
        fax_server: ServerFactory, sink: RecordingSink, gateway_hash: str) -> None:
    async with fax_server(sink, allowed_gateways=("10.0.0.0/8",),
                          auth_users={"faxgw": gateway_hash},
                          auth_require_tls=False) as running:
        for guess in ("a", "b", "c", "d", "e"):
            bad = await send_fax(running.port, fixture("provider_number_in_header_tiff.eml"),
                                 login=("faxgw", guess))
            assert (bad.code, bad.stage) == (535, "auth")
        late = await send_fax(running.port, fixture("provider_number_in_header_tiff.eml"),
                              login=("faxgw", "s3cret"))
    assert (late.code, late.stage) == (535, "auth")
    assert sink.calls == 0


async def test_message_over_size_limit_gets_552(
        fax_server: ServerFactory, sink: RecordingSink) -> None:
    raw = fixture("hylafax_faxrcvd_two_pages_tiff.eml")
    async with fax_server(sink, max_message_bytes=len(raw) // 2) as running:
        result = await send_fax(running.port, raw)
    assert result.code == 552
    assert sink.calls == 0


async def test_page_limit_from_settings_gives_552(
        fax_server: ServerFactory, sink: RecordingSink) -> None:
    async with fax_server(sink, max_pages=1) as running:
        result = await send_fax(running.port, fixture("hylafax_faxrcvd_two_pages_tiff.eml"))
    assert result.code == 552 and "at most 1 pages" in result.message
    assert sink.calls == 0


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=hotline-fax", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


async def test_starttls_required_refuses_plain_and_accepts_tls(
        fax_server: ServerFactory, sink: RecordingSink,
        self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    raw = fixture("provider_number_in_header_tiff.eml")
    async with fax_server(sink, starttls_cert=cert, starttls_key=key,
                          require_starttls=True) as running:
        plain = await send_fax(running.port, raw)
        secure = await send_fax(running.port, raw, starttls=True)
    assert plain.code == 530
    assert secure.code == 250
    assert len(sink.envelopes) == 1


@pytest.fixture
def chinese_ocr() -> None:
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract is not installed (Debian tesseract-ocr tesseract-ocr-chi-sim)")
    langs = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True)
    if "chi_sim" not in langs.stdout.split():
        pytest.skip("tesseract has no chi_sim data (Debian tesseract-ocr-chi-sim)")


@pytest.mark.usefixtures("chinese_ocr")
async def test_ocr_option_adds_marked_machine_text(
        fax_server: ServerFactory, sink: RecordingSink) -> None:
    async with fax_server(sink, ocr_enabled=True, ocr_max_pages=1) as running:
        result = await send_fax(running.port, fixture("hylafax_faxrcvd_two_pages_tiff.eml"))
    assert result.code == 250
    [env] = sink.envelopes
    placeholder, _, machine = env.text.partition("\n\n")
    assert placeholder == "[传真 2 页，待坐席录入]"
    assert machine.startswith(MACHINE_TEXT_MARK)
    assert "13812345678" in machine
    assert "fax.ocr=machine text, to be checked" in env.notes


async def test_silent_gateway_is_disconnected_at_the_idle_timeout(
        fax_server: ServerFactory, sink: RecordingSink) -> None:
    async with fax_server(sink, idle_timeout_s=0.5) as running:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        assert (await reader.readline()).startswith(b"220")
        writer.write(b"EHLO faxgw.test\r\nMAIL FROM:<fax@faxgw.test>\r\n")
        # ... and then nothing: no RCPT, no DATA.
        # read() returns only once the server has closed the connection.
        rest = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
    # The answer to MAIL FROM, then 421 and the close (issue 10 item 8).
    assert b"250 OK\r\n421 4.4.2 " in rest and rest.endswith(b"timeout, closing connection\r\n")
    assert sink.calls == 0
