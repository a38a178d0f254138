"""One fax attached twice (TIFF and PDF, as HylaFAX can mail it) is one fax's pages."""

from __future__ import annotations

from channels.fax_smtp.document import DocumentInfo, PageSize, same_fax
from channels.fax_smtp.parse import FaxDocument

from .conftest import RecordingSink, ServerFactory, fixture, send_fax

TIFF = FaxDocument("fax.tif", "tiff", b"")
PDF = FaxDocument("fax.pdf", "pdf", b"")
FINE_A4_PX = PageSize((1728, 2292), (1728 / 204, 2292 / 196))


def _info(*sizes: PageSize) -> DocumentInfo:
    return DocumentInfo(pages=len(sizes), resolution=None, thumbnails=(), page_sizes=sizes)


async def test_tiff_and_pdf_renderings_of_one_fax_register_its_pages_once(
        fax_server: ServerFactory, sink: RecordingSink) -> None:
    async with fax_server(sink) as running:
        result = await send_fax(running.port, fixture("hylafax_faxrcvd_same_fax_tiff_and_pdf.eml"))
    assert result.code == 250, result.message
    [env] = sink.envelopes
    assert env.text == "[传真 2 页，待坐席录入]"
    names = [a.filename for a in env.attachments]
    assert names[1:] == ["fax000000125.tif", "fax-page-001.png", "fax-page-002.png",
                         "fax000000125.pdf"]  # both files kept, one set of pages
    assert "fax.pages=2" in env.notes
    assert "fax.rendering=fax000000125.pdf is fax000000125.tif again" in env.notes


def test_pdf_whose_points_are_the_tiff_pixels_is_the_same_fax() -> None:
    as_points = PageSize((1728, 2292), (1728 / 72, 2292 / 72))
    assert same_fax(TIFF, _info(FINE_A4_PX, FINE_A4_PX), PDF, _info(as_points, as_points))


def test_documents_of_other_page_counts_sizes_or_the_same_kind_are_two_faxes() -> None:
    a4_pdf = PageSize((609.9, 842.0), (609.9 / 72, 842.0 / 72))
    letter_pdf = PageSize((612.0, 792.0), (8.5, 11.0))
    assert same_fax(TIFF, _info(FINE_A4_PX), PDF, _info(a4_pdf))
    assert not same_fax(TIFF, _info(FINE_A4_PX), PDF, _info(a4_pdf, a4_pdf))
    assert not same_fax(TIFF, _info(FINE_A4_PX), PDF, _info(letter_pdf))
    assert not same_fax(TIFF, _info(FINE_A4_PX), TIFF, _info(FINE_A4_PX))
    assert not same_fax(TIFF, _info(FINE_A4_PX), PDF, _info())  # size unreadable
