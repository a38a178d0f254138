"""PDF faxes: pages drawn by pypdfium2 within a pixel budget, whatever size the page claims."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from channels.fax_smtp.document import analyse
from channels.fax_smtp.parse import FaxDocument, parse_fax_mail
from channels.fax_smtp.pdfpages import MAX_RENDER_PIXELS, render_scale

from .conftest import fixture


def _blank_pdf(width_pt: float, height_pt: float, pages: int = 1) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=width_pt, height=height_pt)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_fax_written_at_72_dpi_is_accepted_with_its_pages() -> None:
    # Fax-to-email services that write the fax's 1728 x 2292 pixels as points.
    mail = parse_fax_mail(fixture("provider_pdf_72dpi_two_pages.eml"))
    info = analyse(mail.documents[0], max_pages=100, thumbnail_pages=20, thumbnail_width=400,
                   ocr_pages=1)
    assert info.pages == 2
    assert [t.page for t in info.thumbnails] == [1, 2]
    assert info.resolution == "72x72"
    with Image.open(io.BytesIO(info.ocr_pages[0].png)) as page:
        assert page.width * page.height <= MAX_RENDER_PIXELS
        assert page.width >= 1728  # drawn larger than the 72-dpi size, for OCR


def test_pdf_page_claiming_a_huge_size_is_drawn_within_the_pixel_budget() -> None:
    # 14 400 pt square (the PDF maximum) at 200 dpi would be 1.6 billion pixels.
    document = FaxDocument("huge.pdf", "pdf", _blank_pdf(14400, 14400))
    info = analyse(document, max_pages=100, thumbnail_pages=1, thumbnail_width=400,
                   ocr_pages=1)
    with Image.open(io.BytesIO(info.ocr_pages[0].png)) as page:
        assert page.width * page.height <= MAX_RENDER_PIXELS
    assert len(info.thumbnails) == 1


def test_pdf_pages_render_without_poppler_on_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    mail = parse_fax_mail(fixture("hylafax_faxrcvd_pdf_tsi_number.eml"))
    info = analyse(mail.documents[0], max_pages=100, thumbnail_pages=5, thumbnail_width=400)
    assert [t.page for t in info.thumbnails] == [1]


@pytest.mark.parametrize(("width", "height"), [(595, 842), (1728, 2292), (14400, 14400),
                                               (14400, 1), (1, 1)])
def test_render_scale_keeps_every_page_size_within_the_budget(width: float,
                                                              height: float) -> None:
    scale = render_scale(width, height)
    drawn_w, drawn_h = math.ceil(width * scale), math.ceil(height * scale)  # as pdfium rounds
    assert drawn_w * drawn_h <= MAX_RENDER_PIXELS
    assert max(drawn_w, drawn_h) <= 15_000
    if (width, height) == (595, 842):
        assert scale == pytest.approx(200 / 72)  # an A4 page keeps fax resolution
