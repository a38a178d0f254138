"""Regenerate the recorded fax mails in ``fixtures/`` (run once; the .eml files are committed).

``python -m tests.channels.fax_smtp.make_fixtures``. The HylaFAX mails follow
the layout of ``faxrcvd`` (subject "Facsimile received from <TSI>", the
``faxinfo`` lines, the document as TIFF or PDF); the provider mails follow the
three common styles (number in the subject, the From, or an X-Fax header).
Page images carry real Chinese text so the OCR test has something to read.
"""

from __future__ import annotations

import base64
import io
import textwrap
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from channels.fax_smtp.render import find_cjk_font

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LETTER = ("市民来信：鼓楼区五四路工地夜间施工噪音扰民",
          "每晚十一点后仍在施工，请尽快处理。",
          "联系电话 13812345678")


def page_image(lines: tuple[str, ...], *, yres: int = 196, height_mm: float = 297) -> Image.Image:
    """A fax page (1728 px wide, 204 dpi across) with the lines written on it."""
    font_file = find_cjk_font()
    font = ImageFont.truetype(str(font_file.path), 48, index=font_file.index)
    square = Image.new("L", (1728, round(height_mm / 25.4 * 204)), 255)
    draw = ImageDraw.Draw(square)
    for row, text in enumerate(lines):
        draw.text((150, 200 + row * 90), text, font=font, fill=0)
    page = square.resize((1728, round(height_mm / 25.4 * yres)))
    return page.point(lambda v: 255 if v > 160 else 0).convert("1")


def tiff(pages: list[Image.Image], *, yres: int = 196, compression: str = "group4") -> bytes:
    out = io.BytesIO()
    pages[0].save(out, format="TIFF", compression=compression, dpi=(204, yres),
                  save_all=True, append_images=pages[1:])
    return out.getvalue()


def pdf(pages: list[Image.Image], *, dpi: tuple[int, int] | None = None) -> bytes:
    """Pages as a PDF at 204 dpi, or at ``dpi`` (across, down) as HylaFAX's tiff2pdf writes."""
    out = io.BytesIO()
    rgb = list(pages)
    size = {"dpi": dpi} if dpi else {"resolution": 204.0}
    rgb[0].save(out, format="PDF", save_all=True, append_images=rgb[1:], **size)
    return out.getvalue()


def pdf_points_as_pixels(pages: list[Image.Image]) -> bytes:
    """A PDF as many fax-to-email services write it: each pixel one point (72 dpi),
    so a fine A4 fax page becomes a 1728 x 2292 pt "page"."""
    out = io.BytesIO()
    pages[0].save(out, format="PDF", resolution=72.0, save_all=True, append_images=pages[1:])
    return out.getvalue()


def hylafax(*, tsi: str, callid: str, pages: int, document: bytes, filetype: str,
            commid: str, quality: str = "Fine", also_pdf: bytes | None = None,
            error: str | None = None) -> bytes:
    """A mail as HylaFAX ``faxrcvd`` writes it (hand-built MIME, like the shell script);
    ``also_pdf``: the same fax attached a second time as PDF (more than one FILETYPE);
    ``error``: a partial reception, which faxrcvd reports below the faxinfo lines."""
    ext, ctype = {"tif": ("tif", "image/tiff"), "pdf": ("pdf", "application/pdf")}[filetype]
    body = base64.encodebytes(document).decode("ascii")
    text = textwrap.dedent(f"""\
        From: The HylaFAX Receive Agent <fax@faxgw.hotline.example>
        To: intake@hotline.example
        Date: Tue, 24 Nov 2026 09:15:02 +0800
        Subject: Facsimile received from {tsi}
        Message-ID: <hylafax.{commid}@faxgw.hotline.example>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="NextPart{commid}"

        This is a multi-part message in MIME format.

        --NextPart{commid}
        Content-Type: text/plain; charset=us-ascii
        Content-Transfer-Encoding: 7bit

        recvq/fax{commid}.tif (ftp://faxgw:4559/recvq/fax{commid}.tif):
                          Sender: {tsi}
                           Pages: {pages}
                         Quality: {quality}
                            Size: ISO A4
                        Received: 2026:11:24 09:15:02
                      TimeToRecv: 0:45
                      SignalRate: 14400 bit/s
                      DataFormat: 2-D MMR
                      ErrCorrect: Yes
                         CallID1: {callid}
                         CallID2:
        ReceivedOn: ttyIAX0
        CommID: c{commid}
        {{error}}
        --NextPart{commid}
        Content-Type: {ctype}; name="fax{commid}.{ext}"
        Content-Description: FAX document
        Content-Transfer-Encoding: base64
        Content-Disposition: attachment; filename="fax{commid}.{ext}"

        """) + body
    if also_pdf is not None:
        text += textwrap.dedent(f"""
            --NextPart{commid}
            Content-Type: application/pdf; name="fax{commid}.pdf"
            Content-Description: FAX document
            Content-Transfer-Encoding: base64
            Content-Disposition: attachment; filename="fax{commid}.pdf"

            """) + base64.encodebytes(also_pdf).decode("ascii")
    text += f"\n--NextPart{commid}--\n"
    text = text.replace("{error}", "" if error is None else (
        f"\nThe full document was not received because:\n\n    {error}\n"))
    return text.replace("\n", "\r\n").encode("ascii")


def provider(*, subject: str, sender: str, document: bytes, filename: str,
             message_id: str | None, headers: dict[str, str] | None = None,
             body: str = "您有一份新传真。") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "12345@hotline.example"
    msg["Subject"] = subject
    msg["Date"] = "Tue, 24 Nov 2026 10:02:11 +0800"
    if message_id:
        msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    maintype, subtype = {".tif": ("image", "tiff"), ".pdf": ("application", "pdf")}.get(
        filename[-4:], ("application", "zip"))
    msg.add_attachment(document, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=SMTP)


def empty_pdf() -> bytes:
    from pypdf import PdfWriter

    out = io.BytesIO()
    PdfWriter().write(out)
    return out.getvalue()


def main() -> None:
    FIXTURES.mkdir(exist_ok=True)
    two = [page_image(LETTER), page_image(("第二页：附现场照片说明。",))]
    files: dict[str, bytes] = {
        "hylafax_faxrcvd_two_pages_tiff.eml": hylafax(
            tsi="GULOU JUMIN", callid="059187654321", pages=2, document=tiff(two),
            filetype="tif", commid="000000123"),
        "hylafax_faxrcvd_pdf_tsi_number.eml": hylafax(
            tsi="+86 591 8765 4321", callid="", pages=1, document=pdf(two[:1]),
            filetype="pdf", commid="000000124"),
        "provider_number_in_subject_pdf.eml": provider(
            subject="传真来自 0591-8765 4322（1页）", sender="Fax Service <noreply@fax.provider.example>",
            document=pdf(two[:1]), filename="fax.pdf", message_id="<p1-20261124@fax.provider.example>"),
        "provider_number_in_from_normal_res.eml": provider(
            subject="New fax received", sender="13812345678@fax.provider.example",
            document=tiff([page_image(LETTER, yres=98)], yres=98), filename="fax.tif",
            message_id="<p2-20261124@fax.provider.example>"),
        "provider_number_in_header_tiff.eml": provider(
            subject="New fax received", sender="Fax Service <noreply@fax.provider.example>",
            document=tiff(two[:1]), filename="incoming.tif",
            message_id="<p3-20261124@fax.provider.example>",
            headers={"X-Fax-Caller-ID": "+86 139 1234 5678", "X-Fax-Pages": "1"}),
        "provider_no_message_id_tiff.eml": provider(
            subject="Fax from 0591-8765 4323", sender="noreply@fax.provider.example",
            document=tiff(two[:1]), filename="fax.tif", message_id=None),
        "unknown_sender_tiff.eml": provider(
            subject="New fax received", sender="Fax Service <noreply@fax.provider.example>",
            document=tiff(two[:1]), filename="fax.tif",
            message_id="<p4-20261124@fax.provider.example>", headers={"X-Fax-TSI": "HOTEL LOBBY"}),
        "header_injection_subject.eml": provider(
            subject="INJECT",
            sender="noreply@fax.provider.example", document=tiff(two[:1]), filename="fax.tif",
            message_id="<p5-20261124@fax.provider.example>"),
        "not_a_tiff.eml": provider(
            subject="Fax from 0591-8765 4325", sender="noreply@fax.provider.example",
            document=b"this is not a TIFF, just text pretending\n" * 20, filename="fax.tif",
            message_id="<p6-20261124@fax.provider.example>"),
        "zero_pages_pdf.eml": provider(
            subject="Fax from 0591-8765 4326", sender="noreply@fax.provider.example",
            document=empty_pdf(), filename="fax.pdf", message_id="<p7-20261124@fax.provider.example>"),
        "five_hundred_pages_tiff.eml": provider(
            subject="Fax from 0591-8765 4327", sender="noreply@fax.provider.example",
            document=tiff([Image.new("1", (1728, 60), 1)] * 500), filename="fax.tif",
            message_id="<p8-20261124@fax.provider.example>"),
        "decompression_bomb_tiff.eml": provider(
            subject="Fax from 0591-8765 4328", sender="noreply@fax.provider.example",
            document=tiff([Image.new("1", (20000, 20000), 1)], compression="tiff_deflate"),
            filename="fax.tif", message_id="<p9-20261124@fax.provider.example>"),
        "plain_mail_no_fax.eml": provider(
            subject="hello", sender="someone@example.com", document=b"PK\x03\x04zipdata",
            filename="letter.zip", message_id="<p10@example.com>"),
    }
    files["hylafax_faxrcvd_same_fax_tiff_and_pdf.eml"] = hylafax(
        tsi="GULOU JUMIN", callid="059187654321", pages=2, document=tiff(two),
        filetype="tif", commid="000000125", also_pdf=pdf(two, dpi=(204, 196)))
    files["hylafax_faxrcvd_partial_reception.eml"] = hylafax(
        tsi="GULOU JUMIN", callid="059187654321", pages=1, document=tiff(two[:1]),
        filetype="tif", commid="000000126", error="RSPREC error/got DCN (sender abort)")
    files["provider_partial_flag_tiff.eml"] = provider(
        subject="Fax from 0591-8765 4332", sender="noreply@fax.provider.example",
        document=tiff(two[:1]), filename="fax.tif",
        message_id="<p14-20261124@fax.provider.example>",
        headers={"X-Fax-Status": "partial", "X-Fax-Pages": "1"})
    files["provider_pdf_72dpi_two_pages.eml"] = provider(
        subject="Fax from 0591-8765 4331", sender="noreply@fax.provider.example",
        document=pdf_points_as_pixels([page.resize((1728, 2292)) for page in two]),
        filename="fax.pdf", message_id="<p13-20261124@fax.provider.example>")
    truncated = tiff(two)
    files["truncated_tiff.eml"] = provider(
        subject="Fax from 0591-8765 4329", sender="noreply@fax.provider.example",
        document=truncated[: len(truncated) * 9 // 10], filename="fax.tif",
        message_id="<p11-20261124@fax.provider.example>")
    files["malformed_mime_no_boundary.eml"] = (
        b"From: noreply@fax.provider.example\r\nSubject: Fax from 0591-8765 4330\r\n"
        b"Message-ID: <p12@fax.provider.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed\r\n\r\n--\r\nContent-Type: image/tiff\r\n\r\n"
        b"SUkqAAgAAAA=\x00\xff broken\r\n")
    # An encoded word that decodes to a line break and a Bcc header of its own.
    injected = base64.b64encode("传真 Fax from 0591-8765 4324\r\nBcc: victim@example.com"
                                .encode()).decode()
    files["header_injection_subject.eml"] = files["header_injection_subject.eml"].replace(
        b"Subject: INJECT", f"Subject: =?utf-8?b?{injected}?=".encode())
    for name, data in files.items():
        (FIXTURES / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
