"""From a parsed fax mail to the frozen ``Envelope`` intake registers.

A fax has no text: the envelope's text is a placeholder telling the agent to
transcribe the pages (R5.1: the service centre registers what arrives), plus
OCR text when enabled, clearly marked as machine text. The original ``.eml``
travels as an attachment, so nothing the gateway sent is ever lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from channels.fax_smtp.document import DocumentInfo
from channels.fax_smtp.parse import FaxMail, external_id, one_line
from contract.envelope import MACHINE_TEXT_MARK, Attachment, Channel, Envelope
from contract.normalise import clean_text

OCR_MAX_CHARS = 4000
INCOMPLETE_MARK = "【传真接收不完整，可能缺页，请回电核实】"
"""On the placeholder's first line (the console's fax list shows it): call the sender back."""


def placeholder(pages: int, *, incomplete: bool = False) -> str:
    """The text an unread fax case shows in the console until an agent transcribes it."""
    return f"[传真 {pages} 页，待坐席录入]" + (INCOMPLETE_MARK if incomplete else "")


def build_envelope(mail: FaxMail, infos: Sequence[DocumentInfo], raw: bytes, *,
                   received_at: datetime, ocr_text: str | None = None) -> Envelope:
    """One envelope per fax: documents, thumbnails and the raw mail as attachments."""
    pages = sum(info.pages for info in infos if info.rendering_of is None)
    text = placeholder(pages, incomplete=mail.incomplete is not None)
    if ocr_text:
        machine = clean_text(ocr_text, field="ocr", max_chars=10**6, required=False)
        if machine:
            text += "\n\n" + MACHINE_TEXT_MARK + "\n" + machine[:OCR_MAX_CHARS]
    ext_id = external_id(mail.message_id, raw)
    attachments = [Attachment(filename=_eml_name(ext_id), content_type="message/rfc822",
                              data=raw)]
    page_offset = 0
    for doc, info in zip(mail.documents, infos, strict=True):
        attachments.append(Attachment(doc.filename, doc.content_type, doc.data))
        if info.rendering_of is not None:  # the same pages again: attached, not counted
            continue
        for thumb in info.thumbnails:
            number = page_offset + thumb.page
            attachments.append(Attachment(f"fax-page-{number:03d}.png", "image/png", thumb.png))
        page_offset += info.pages
    return Envelope(
        channel=Channel.FAX,
        external_id=ext_id,
        received_at=received_at,
        text=text,
        sender=mail.sender,
        reply_address=mail.sender,
        attachments=tuple(attachments),
        notes=tuple(_notes(mail, infos, pages, ocr_text is not None)),
    )


def _notes(mail: FaxMail, infos: Sequence[DocumentInfo], pages: int,
           ocr: bool) -> list[str]:
    notes = [f"fax.pages={pages}"]
    for doc, info in zip(mail.documents, infos, strict=True):
        if info.rendering_of is not None:
            notes.append(f"fax.rendering={doc.filename} is "
                         f"{mail.documents[info.rendering_of].filename} again")
    resolution = next((info.resolution for info in infos if info.resolution), None)
    if resolution:
        notes.append(f"fax.resolution={resolution}")
    if mail.incomplete is not None:  # the note stays on the case after transcription
        notes.append(f"fax.incomplete=pages may be missing ({mail.incomplete})")
    if mail.declared_pages is not None and mail.declared_pages != pages:
        notes.append(f"fax.declared_pages={mail.declared_pages}")
    if mail.sender:
        notes.append(f"fax.sender_source={mail.sender_source}")
    else:
        notes.append("fax.sender=unknown (no fax number could be read)")
    if mail.raw_sender:
        notes.append(f"fax.tsi={one_line(mail.raw_sender)}")
    if mail.subject:
        notes.append(f"fax.subject={one_line(mail.subject)}")
    if ocr:
        notes.append("fax.ocr=machine text, to be checked")
    return notes


def _eml_name(ext_id: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in ext_id)
    return f"fax-{safe[:60]}.eml"
