"""Opening a received fax document: page count, resolution, page thumbnails.

CPU-bound and synchronous (Pillow, pypdf; PDF pages are drawn by pypdfium2 in a
child process, ``pdfpages.py``): the handler runs it in a worker thread. Every
TIFF page's header is checked against fax-sized limits *before* any pixel is
decoded, so a tiny file that claims 100 000 x 100 000 pixels (the fax
version of a zip bomb) is refused without allocating them; decoding every page
proves the TIFF is whole, since a truncated fax fails on its last page.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageSequence, UnidentifiedImageError

from channels.fax_smtp.parse import FaxDocument, NotAFax
from channels.fax_smtp.pdfpages import RenderFailed, render_pages
from contract.images import MAX_IMAGE_HEIGHT, MAX_IMAGE_WIDTH, oversized_size

# A fax page is 1728 px wide (2048/2432/3456 for B4/A3 or 300/400 dpi modes) and
# at most ~4700 rows (A4 at superfine); the shared image limit leaves room for both.
MAX_PAGE_WIDTH, MAX_PAGE_HEIGHT = MAX_IMAGE_WIDTH, MAX_IMAGE_HEIGHT
PDF_RENDER_TIMEOUT_S = 60
THUMBNAIL_REDUCING_GAP = 1.25
"""Thumbnails are box-reduced by the largest whole factor that leaves a bicubic pass at least
1.25x to go (an A4 page to 400 px: 3x, then 1.44x). Box-averaging 1-bit pixels into grey is
the anti-aliasing; the last pass only smooths, so it need not be Lanczos on a 2x larger image.
The same thumbnail to the eye (text at 24-80 px and hairlines compared side by side with the
earlier reduce-by-2 plus Lanczos: mean 1.6/255 from a full Lanczos, that one 0.7) at under half
the CPU: the resize ~3 ms a page, not ~7."""


@dataclass(frozen=True, slots=True)
class PageImage:
    """One page as a PNG, for the console (thumbnail) or for OCR (full size)."""

    page: int
    png: bytes


@dataclass(frozen=True, slots=True)
class PageSize:
    """A page's size as the file states it, to recognise two renderings of one fax."""

    size: tuple[float, float]
    """In the file's units: pixels (TIFF) or points (PDF)."""
    inches: tuple[float, float] | None
    """The physical size, when the file gives a resolution (a PDF always does)."""


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """What an agent needs to know about the document before reading it."""

    pages: int
    resolution: str | None
    """``"204x196"`` (dpi), or None when the file does not say."""
    thumbnails: tuple[PageImage, ...]
    ocr_pages: tuple[PageImage, ...] = ()
    page_sizes: tuple[PageSize, ...] = ()
    """Every page's size; empty when a page's size could not be read."""
    rendering_of: int | None = None
    """Index of an earlier document of the same mail that this one renders again."""


def analyse(document: FaxDocument, *, max_pages: int, thumbnail_pages: int,
            thumbnail_width: int, ocr_pages: int = 0) -> DocumentInfo:
    """Check and describe a TIFF or PDF; raise ``NotAFax`` for what cannot be read."""
    if document.kind == "tiff":
        return _analyse_tiff(document, max_pages=max_pages, thumbnail_pages=thumbnail_pages,
                             thumbnail_width=thumbnail_width, ocr_pages=ocr_pages)
    return _analyse_pdf(document, max_pages=max_pages, thumbnail_pages=thumbnail_pages,
                        thumbnail_width=thumbnail_width, ocr_pages=ocr_pages)


def same_fax(first: FaxDocument, first_info: DocumentInfo, second: FaxDocument,
             second_info: DocumentInfo) -> bool:
    """Whether a TIFF and a PDF are renderings of one fax (HylaFAX can attach both):
    the same number of pages, each of the same physical size, or with the PDF's
    points equal to the TIFF's pixels (the 72-dpi way some services write PDFs)."""
    if first.kind == second.kind or first_info.pages != second_info.pages:
        return False
    if not len(first_info.page_sizes) == len(second_info.page_sizes) == first_info.pages:
        return False
    return all(_close(a.size, b.size) or (a.inches is not None and b.inches is not None
                                          and _close(a.inches, b.inches))
               for a, b in zip(first_info.page_sizes, second_info.page_sizes, strict=True))


def _close(a: tuple[float, float], b: tuple[float, float], tolerance: float = 0.03) -> bool:
    return all(abs(x - y) <= tolerance * max(abs(x), abs(y), 1e-9) for x, y in zip(a, b, strict=True))


def too_many_pages(pages: int | None, max_pages: int) -> NotAFax:
    """552: the fax is longer than the hotline takes (``pages`` None: counting stopped)."""
    count = f"{pages} pages" if pages is not None else f"more than {max_pages} pages"
    return NotAFax(f"fax has {count}; this hotline takes at most {max_pages} pages per fax",
                   code=552, status="5.3.4")


def _analyse_tiff(document: FaxDocument, *, max_pages: int, thumbnail_pages: int,
                  thumbnail_width: int, ocr_pages: int) -> DocumentInfo:
    thumbs: list[PageImage] = []
    ocr: list[PageImage] = []
    sizes: list[PageSize] = []
    resolution: str | None = None
    pages = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data" and the like
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(document.data), formats=["TIFF"])
            for frame in _frames(image, max_pages):
                pages += 1
                width, height = frame.size
                if oversized_size(width, height) is not None:
                    raise NotAFax(f"page {pages} of {document.filename} is {width}x{height} "
                                  f"pixels, not a fax page (at most {MAX_PAGE_WIDTH}x"
                                  f"{MAX_PAGE_HEIGHT}); refused unread", code=552,
                                  status="5.3.4")
                xres, yres = _dpi(frame)
                if resolution is None and xres and yres:
                    resolution = f"{xres}x{yres}"
                sizes.append(PageSize((width, height), (width / xres, height / yres)
                                      if xres and yres else None))
                frame.load()
                if pages <= thumbnail_pages:
                    thumbs.append(PageImage(pages, _png(frame, xres, yres, thumbnail_width)))
                if pages <= ocr_pages:
                    ocr.append(PageImage(pages, _png(frame, xres, yres, None)))
    except NotAFax:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise NotAFax(f"{document.filename} claims pages far larger than a fax "
                      f"({exc}); refused unread", code=552, status="5.3.4") from exc
    except UnidentifiedImageError as exc:
        raise NotAFax(f"{document.filename} cannot be opened as a TIFF "
                      "(damaged or truncated)") from exc
    except Exception as exc:  # Pillow raises OSError, TypeError, struct.error… on damage
        raise NotAFax(f"{document.filename} is not a readable TIFF (page {pages + 1}: "
                      f"{type(exc).__name__}: {exc})") from exc
    if pages == 0:
        raise NotAFax(f"fax {document.filename} has no pages (a failed reception?)")
    return DocumentInfo(pages=pages, resolution=resolution, thumbnails=tuple(thumbs),
                        ocr_pages=tuple(ocr), page_sizes=tuple(sizes))


def _frames(image: Image.Image, max_pages: int) -> Iterator[Image.Image]:
    for index, frame in enumerate(ImageSequence.Iterator(image)):
        if index >= max_pages:
            raise too_many_pages(None, max_pages)
        yield frame


def _dpi(frame: Image.Image) -> tuple[int, int]:
    dpi = frame.info.get("dpi")
    if isinstance(dpi, tuple) and len(dpi) == 2:
        try:
            return round(float(dpi[0])), round(float(dpi[1]))
        except (TypeError, ValueError):
            pass
    return 0, 0


def _png(frame: Image.Image, xres: int, yres: int, width: int | None) -> bytes:
    """Render a page as greyscale PNG with square pixels (normal-res rows doubled)."""
    page = frame.convert("L")
    target_h = page.height
    if xres and yres and xres != yres:
        target_h = max(1, round(page.height * xres / yres))
    target_w = page.width
    if width is not None and page.width > width:
        target_h = max(1, round(target_h * width / page.width))
        target_w = width
    if (target_w, target_h) != page.size and width is None:  # OCR: rows doubled, nothing shrunk
        page = page.resize((target_w, target_h), Image.Resampling.LANCZOS)
    elif (target_w, target_h) != page.size:
        page = page.resize((target_w, target_h), Image.Resampling.BICUBIC,
                           reducing_gap=THUMBNAIL_REDUCING_GAP)
    out = io.BytesIO()
    # The fastest zlib level: a 400 px page is ~4 KB, not ~2.5 KB, for a third less of the
    # encoding (~0.6 ms a page); no optimize pass, which tries every setting for ~10 % less.
    page.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _analyse_pdf(document: FaxDocument, *, max_pages: int, thumbnail_pages: int,
                 thumbnail_width: int, ocr_pages: int) -> DocumentInfo:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(document.data), strict=False)
        pages = len(reader.pages)
        resolution = _pdf_resolution(reader) if pages else None
    except Exception as exc:  # pypdf raises PdfReadError, KeyError, RecursionError… on damage
        raise NotAFax(f"{document.filename} is not a readable PDF "
                      f"({type(exc).__name__}: {exc})") from exc
    if pages == 0:
        raise NotAFax(f"fax {document.filename} has no pages (a failed reception?)")
    if pages > max_pages:
        raise too_many_pages(pages, max_pages)
    to_render = max(min(thumbnail_pages, pages), min(ocr_pages, pages))
    try:
        # The page size in points is not checked: the renderer's pixel budget is the guard.
        rendered = render_pages(document.data, to_render, timeout_s=PDF_RENDER_TIMEOUT_S)
    except RenderFailed as exc:
        raise NotAFax(f"{document.filename}: PDF pages could not be rendered ({exc})") from exc
    thumbs, ocr = [], []
    for number, png in rendered:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            image.load()
            if number <= thumbnail_pages:
                thumbs.append(PageImage(number, _png(image, 0, 0, thumbnail_width)))
            if number <= ocr_pages:
                ocr.append(PageImage(number, png))
    return DocumentInfo(pages=pages, resolution=resolution, thumbnails=tuple(thumbs),
                        ocr_pages=tuple(ocr), page_sizes=_pdf_page_sizes(reader, pages))


def _pdf_page_sizes(reader: object, pages: int) -> tuple[PageSize, ...]:
    """Each page's media box; empty when one cannot be read (then no rendering matches)."""
    sizes = []
    try:
        for index in range(pages):
            box = reader.pages[index].mediabox  # type: ignore[attr-defined]
            width, height = abs(float(box.width)), abs(float(box.height))
            sizes.append(PageSize((width, height), (width / 72, height / 72)))
    except Exception:  # pypdf raises many types on broken page trees; the size is optional
        return ()
    return tuple(sizes)


def _pdf_resolution(reader: object) -> str | None:
    """Dpi of the first page's scanned image: pixels over the page's size in inches."""
    try:
        page = reader.pages[0]  # type: ignore[attr-defined]
        box_w, box_h = float(page.mediabox.width), float(page.mediabox.height)
        xobjects = page["/Resources"]["/XObject"].get_object()
        for ref in xobjects.values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                return (f"{round(int(obj['/Width']) * 72 / box_w)}x"
                        f"{round(int(obj['/Height']) * 72 / box_h)}")
    except Exception:  # optional detail; a PDF without an image just has no resolution
        return None
    return None
