"""A partial reception (pages may be missing) is marked on the case, so the agent calls back."""

from __future__ import annotations

import pytest

from channels.fax_smtp.envelope import INCOMPLETE_MARK
from channels.fax_smtp.parse import parse_fax_mail

from .conftest import RecordingSink, ServerFactory, fixture, send_fax


@pytest.mark.parametrize(("name", "why"), [
    ("hylafax_faxrcvd_partial_reception.eml", "RSPREC error/got DCN (sender abort)"),
    ("provider_partial_flag_tiff.eml", "X-Fax-Status: partial"),
])
async def test_partial_reception_is_marked_in_the_text_and_notes(
        fax_server: ServerFactory, sink: RecordingSink, name: str, why: str) -> None:
    async with fax_server(sink) as running:
        result = await send_fax(running.port, fixture(name))
    assert result.code == 250, result.message
    [env] = sink.envelopes
    assert env.text.split("\n", 1)[0] == "[传真 1 页，待坐席录入]" + INCOMPLETE_MARK
    assert f"fax.incomplete=pages may be missing ({why})" in env.notes


def test_complete_reception_carries_no_incomplete_mark() -> None:
    mail = parse_fax_mail(fixture("hylafax_faxrcvd_two_pages_tiff.eml"))
    assert mail.incomplete is None


@pytest.mark.parametrize("words", [
    "Subject: Facsimile received from GULOU JUMIN (Errors were received)",
    "X-Fax-Complete: no", "X-Fax-Incomplete: yes", "Subject: 传真接收不完整 0591-8765 4321",
])
def test_gateway_wordings_of_a_partial_reception_are_recognised(words: str) -> None:
    raw = fixture("provider_number_in_header_tiff.eml").replace(
        b"Subject: New fax received", words.encode("utf-8") if words.isascii()
        else f"Subject: =?utf-8?b?{_b64(words[9:])}?=".encode())
    assert parse_fax_mail(raw).incomplete


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()
