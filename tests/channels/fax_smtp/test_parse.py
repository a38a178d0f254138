"""Pure parsing of recorded fax mails: sender numbers, pages, resolution, refusals."""

from __future__ import annotations

import base64
import hashlib
from email.message import EmailMessage

import pytest

from channels.fax_smtp import parse as parse_module
from channels.fax_smtp.document import analyse
from channels.fax_smtp.envelope import build_envelope
from channels.fax_smtp.parse import FaxMail, NotAFax, external_id, one_line, parse_fax_mail
from contract.envelope import Channel

from .conftest import FIXTURES, NOW, fixture

GOOD = [
    # fixture, sender E.164, where it was found, pages, resolution
    ("hylafax_faxrcvd_two_pages_tiff.eml", "+8659187654321", "faxinfo CallID1", 2, "204x196"),
    ("hylafax_faxrcvd_pdf_tsi_number.eml", "+8659187654321", "faxinfo Sender (TSI)", 1,
     "204x204"),
    ("provider_number_in_subject_pdf.eml", "+8659187654322", "subject", 1, "204x204"),
    ("provider_number_in_from_normal_res.eml", "+8613812345678", "From address", 1, "204x98"),
    ("provider_number_in_header_tiff.eml", "+8613912345678", "header X-Fax-Caller-ID", 1,
     "204x196"),
    ("provider_no_message_id_tiff.eml", "+8659187654323", "subject", 1, "204x196"),
    ("unknown_sender_tiff.eml", None, "none", 1, "204x196"),
]

BAD = [
    # fixture, SMTP code, words the reason must contain
    ("not_a_tiff.eml", 550, "is not a TIFF or PDF"),
    ("truncated_tiff.eml", 550, "not a readable TIFF (page 2"),
    ("malformed_mime_no_boundary.eml", 550, "no TIFF or PDF document"),
    ("plain_mail_no_fax.eml", 550, "found: application/zip"),
    ("zero_pages_pdf.eml", 550, "has no pages"),
    ("five_hundred_pages_tiff.eml", 552, "at most 100 pages"),
    ("decompression_bomb_tiff.eml", 552, "refused unread"),
]


@pytest.mark.parametrize(("name", "sender", "source", "pages", "resolution"), GOOD)
def test_recorded_fax_formats_give_sender_pages_and_resolution(
        name: str, sender: str | None, source: str, pages: int, resolution: str) -> None:
    mail = parse_fax_mail(fixture(name))
    infos = [analyse(d, max_pages=100, thumbnail_pages=20, thumbnail_width=400)
             for d in mail.documents]
    assert (mail.sender, mail.sender_source) == (sender, source)
    assert sum(i.pages for i in infos) == pages
    assert infos[0].resolution == resolution
    assert len(infos[0].thumbnails) == pages
    assert all(t.png.startswith(b"\x89PNG") for t in infos[0].thumbnails)


@pytest.mark.parametrize(("name", "code", "reason"), BAD)
def test_bad_fax_mail_is_refused_with_a_clear_reason(name: str, code: int, reason: str) -> None:
    with pytest.raises(NotAFax) as caught:
        mail = parse_fax_mail(fixture(name))
        for document in mail.documents:
            analyse(document, max_pages=100, thumbnail_pages=20, thumbnail_width=400)
    assert caught.value.code == code
    assert reason in caught.value.reason
    assert "\n" not in caught.value.smtp_reply


def test_hylafax_keeps_the_tsi_when_the_caller_id_gives_the_number() -> None:
    mail = parse_fax_mail(fixture("hylafax_faxrcvd_two_pages_tiff.eml"))
    assert mail.raw_sender == "GULOU JUMIN"
    assert mail.declared_pages == 2
    assert mail.message_id == "hylafax.000000123@faxgw.hotline.example"


def test_header_injection_in_subject_becomes_one_harmless_line() -> None:
    mail = parse_fax_mail(fixture("header_injection_subject.eml"))
    assert "\r" not in mail.subject and "\n" not in mail.subject
    assert "Bcc: victim@example.com" in mail.subject  # kept as text, not as a header
    assert mail.sender == "+8659187654324"


def test_one_line_strips_controls_and_bounds_length() -> None:
    assert one_line("a\r\nBcc: x\x00y\u2028z") == "a Bcc: x y z"
    assert len(one_line("字" * 1000)) == 200


def test_missing_message_id_gives_content_hash_as_external_id() -> None:
    raw = fixture("provider_no_message_id_tiff.eml")
    mail = parse_fax_mail(raw)
    assert mail.message_id is None
    assert external_id(mail.message_id, raw) == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_R5_1_envelope_waits_for_agent_with_pages_and_originals_attached() -> None:
    raw = fixture("hylafax_faxrcvd_two_pages_tiff.eml")
    mail = parse_fax_mail(raw)
    infos = [analyse(d, max_pages=100, thumbnail_pages=20, thumbnail_width=400)
             for d in mail.documents]
    env = build_envelope(mail, infos, raw, received_at=NOW)
    assert env.channel is Channel.FAX
    assert env.external_id == "hylafax.000000123@faxgw.hotline.example"
    assert env.sender == env.reply_address == "+8659187654321"
    assert env.text == "[传真 2 页，待坐席录入]"
    kinds = [(a.filename, a.content_type) for a in env.attachments]
    assert kinds[0][1] == "message/rfc822" and env.attachments[0].data == raw
    assert kinds[1] == ("fax000000123.tif", "image/tiff")
    assert kinds[2:] == [("fax-page-001.png", "image/png"), ("fax-page-002.png", "image/png")]
    assert {"fax.pages=2", "fax.resolution=204x196", "fax.tsi=GULOU JUMIN"} <= set(env.notes)


def test_unknown_sender_keeps_raw_tsi_in_notes_and_no_reply_address() -> None:
    raw = fixture("unknown_sender_tiff.eml")
    mail = parse_fax_mail(raw)
    infos = [analyse(d, max_pages=100, thumbnail_pages=20, thumbnail_width=400)
             for d in mail.documents]
    env = build_envelope(mail, infos, raw, received_at=NOW)
    assert env.sender is None and env.reply_address is None
    assert "fax.tsi=HOTEL LOBBY" in env.notes


def test_thumbnails_are_capped_but_every_page_is_counted() -> None:
    mail = parse_fax_mail(fixture("hylafax_faxrcvd_two_pages_tiff.eml"))
    info = analyse(mail.documents[0], max_pages=100, thumbnail_pages=1, thumbnail_width=200)
    assert info.pages == 2
    assert [t.page for t in info.thumbnails] == [1]


def test_normal_resolution_thumbnail_has_square_pixels() -> None:
    from io import BytesIO

    from PIL import Image

    mail = parse_fax_mail(fixture("provider_number_in_from_normal_res.eml"))
    info = analyse(mail.documents[0], max_pages=100, thumbnail_pages=1, thumbnail_width=400)
    with Image.open(BytesIO(info.thumbnails[0].png)) as thumb:
        # A fax page is 215 × 297 mm (1 : 1.38); undoubled 204x98 rows would give 1 : 0.68.
        assert 1.33 < thumb.height / thumb.width < 1.43


def test_a_thumbnail_is_a_smooth_reduction_of_the_page() -> None:
    """Cheaper resampling must not cost the desk legibility: the thumbnail is grey-shaded
    (anti-aliased, not thresholded 1-bit) and within a few levels of a full Lanczos."""
    from io import BytesIO

    from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageStat

    page = Image.new("1", (1728, 2292), 1)
    draw = ImageDraw.Draw(page)
    for row, size in enumerate((24, 32, 48, 80)):
        draw.text((100, 100 + row * 200), "Road broken near No.32 Wuyi Rd, 0591-8765 4321",
                  font=ImageFont.load_default(size=size), fill=0)
    for row in range(30):
        draw.line((100, 1000 + row * 30, 1600, 1000 + row * 30 + row), fill=0, width=1 + row % 3)
    out = BytesIO()
    page.save(out, format="TIFF", dpi=(204, 196))
    document = parse_module.FaxDocument("page.tif", "tiff", out.getvalue())
    info = analyse(document, max_pages=1, thumbnail_pages=1, thumbnail_width=400)
    with Image.open(BytesIO(info.thumbnails[0].png)) as thumb:
        fair = page.convert("L").resize(thumb.size, Image.Resampling.LANCZOS)
        assert len(thumb.getcolors() or ()) > 16
        assert ImageStat.Stat(ImageChops.difference(thumb.convert("L"), fair)).mean[0] < 2


FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.eml"))


def _parsed_or_refused(raw: bytes) -> FaxMail | str:
    try:
        return parse_fax_mail(raw)
    except NotAFax as exc:
        return exc.smtp_reply


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_setting_base64_bodies_aside_parses_every_fixture_as_the_plain_parser_does(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path (large base64 bodies kept out of the line-by-line parser) changes
    nothing: each recorded mail parses, or is refused, exactly as without it."""
    raw = fixture(name)
    fast = _parsed_or_refused(raw)
    monkeypatch.setattr(parse_module, "_MIN_SET_ASIDE", len(raw) + 1)  # never set aside
    assert fast == _parsed_or_refused(raw)


def test_a_fax_sized_base64_body_is_set_aside_and_decodes_the_same() -> None:
    raw = fixture("hylafax_faxrcvd_two_pages_tiff.eml")
    light, bodies = parse_module._set_aside(raw)
    assert bodies and len(light) < len(raw) // 4
    assert parse_fax_mail(raw).documents[0].data[:4] in (b"II*\x00", b"MM\x00*")


def test_a_set_aside_body_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The document comes from the decoding that proved the body base64, not from
    ``get_payload(decode=True)`` splitting and decoding its lines a second time."""
    raw = fixture("hylafax_faxrcvd_two_pages_tiff.eml")
    (body,) = parse_module._set_aside(raw)[1].values()
    decodes: list[str] = []
    get_payload = EmailMessage.get_payload

    def counting(self: EmailMessage, i: int | None = None, decode: bool = False) -> object:
        if decode:
            decodes.append(self.get_content_type())
        return get_payload(self, i, decode)

    monkeypatch.setattr(EmailMessage, "get_payload", counting)
    mail = parse_fax_mail(raw)
    assert mail.documents[0].data == body.data
    assert "text/plain" in decodes and "image/tiff" not in decodes  # the faxinfo text is read


def test_a_body_the_parser_would_repair_is_left_to_it() -> None:
    """Base64 that only decodes leniently (here, its last quantum cut short) is not set
    aside: the parser decodes it as it always did, repairing the padding."""
    tiff = fixture("hylafax_faxrcvd_two_pages_tiff.eml")
    data = parse_fax_mail(tiff).documents[0].data
    assert len(data) % 3  # so its base64 ends in "=" padding, cut off below
    encoded = base64.encodebytes(data).rstrip(b"=\n").replace(b"\n", b"\r\n")
    raw = (b"From: fax@gw.example\r\nSubject: Fax from 059187654321\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
           b"Content-Type: image/tiff\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + encoded + b"\r\n--B--\r\n")
    assert not parse_module._set_aside(raw)[1]
    assert parse_fax_mail(raw).documents[0].data == data


def test_base64_looking_text_after_a_quoted_header_is_parsed_as_sent() -> None:
    """A text part that quotes a "Content-Transfer-Encoding: base64" line followed by
    base64-looking lines is not a base64 part: the token lands in a 7bit part, so the mail
    is parsed as sent and the text comes back whole."""
    quoted = ("QUJD" * 19 + "\r\n") * 100
    raw = ("From: fax@gw.example\r\nSubject: Fax from 059187654321\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n'
           "\r\nforwarded:\r\nContent-Transfer-Encoding: base64\r\n\r\n" + quoted
           + "--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           "JVBERi0xLjQK\r\n--B--\r\n").encode()
    assert parse_module._set_aside(raw)[1]  # the fast path was tempted
    mail = parse_fax_mail(raw)
    assert mail.documents[0].data == b"%PDF-1.4\n" and mail.sender == "+8659187654321"
