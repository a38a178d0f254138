"""Opening a received fax document: page count, resolution, page thumbnails.

CPU-bound and synchronous (Pillow, pypdf): the handler runs it in a worker
thread. Every page's header is checked against fax-sized limits *before* any
pixel is decoded, so a tiny file that claims 100 000 x 100 000 pixels (the fax
version of a zip bomb) is refused without allocating them; decoding every page
proves the TIFF is whole, since a truncated fax fails on its last page.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageSequence, UnidentifiedImageError

from channels.fax_smtp.parse import FaxDocument, NotAFax

# A fax page is 1728 px wide (2048/2432/3456 for B4/A3 or 300/400 dpi modes) and
# at most ~4700 rows (A4 at superfine); leave room, refuse absurd sizes.
MAX_PAGE_WIDTH = 5000
MAX_PAGE_HEIGHT = 15000
PDFTOPPM_TIMEOUT_S = 60
MAX_PDF_PAGE_PT = 2000.0  # A3 is 842 x 1191 pt


@dataclass(frozen=True, slots=True)
class PageImage:
    """One page as a PNG, for the console (thumbnail) or for OCR (full size)."""

    page: int
    png: bytes


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """What an agent needs to know about the document before reading it."""

    pages: int
    resolution: str | None
    """``"204x196"`` (dpi), or None when the file does not say."""
    thumbnails: tuple[PageImage, ...]
    ocr_pages: tuple[PageImage, ...] = ()


def analyse(document: FaxDocument, *, max_pages: int, thumbnail_pages: int,
            thumbnail_width: int, ocr_pages: int = 0) -> DocumentInfo:
    """Check and describe a TIFF or PDF; raise ``NotAFax`` for what cannot be read."""
    if document.kind == "tiff":
        return _analyse_tiff(document, max_pages=max_pages, thumbnail_pages=thumbnail_pages,
                             thumbnail_width=thumbnail_width, ocr_pages=ocr_pages)
    return _analyse_pdf(document, max_pages=max_pages, thumbnail_pages=thumbnail_pages,
                        thumbnail_width=thumbnail_width, ocr_pages=ocr_pages)


def too_many_pages(pages: int | None, max_pages: int) -> NotAFax:
    """552: the fax is longer than the hotline takes (``pages`` None: counting stopped)."""
    count = f"{pages} pages" if pages is not None else f"more than {max_pages} pages"
    return NotAFax(f"fax has {count}; this hotline takes at most {max_pages} pages per fax",
                   code=552, status="5.3.4")


def _analyse_tiff(document: FaxDocument, *, max_pages: int, thumbnail_pages: int,
                  thumbnail_width: int, ocr_pages: int) -> DocumentInfo:
    thumbs: list[PageImage] = []
    ocr: list[PageImage] = []
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
                if width > MAX_PAGE_WIDTH or height > MAX_PAGE_HEIGHT or width < 1:
                    raise NotAFax(f"page {pages} of {document.filename} is {width}x{height} "
                                  f"pixels, not a fax page (at most {MAX_PAGE_WIDTH}x"
                                  f"{MAX_PAGE_HEIGHT}); refused unread", code=552,
                                  status="5.3.4")
                xres, yres = _dpi(frame)
                if resolution is None and xres and yres:
                    resolution = f"{xres}x{yres}"
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
                        ocr_pages=tuple(ocr))


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
    if (target_w, target_h) != page.size:
        # reducing_gap: box-reduce by a whole factor first, then LANCZOS on the small image;
        # the same thumbnail to the eye at a fifth of the CPU (it was ~50 ms of a fax's ~100).
        page = page.resize((target_w, target_h), Image.Resampling.LANCZOS, reducing_gap=2.0)
    out = io.BytesIO()
    # No optimize pass: it tries every zlib setting for a thumbnail ~10 % smaller.
    page.save(out, format="PNG")
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
    _check_page_boxes(reader, to_render, document.filename)
    rendered = _pdftoppm(document.data, to_render)
    thumbs, ocr = [], []
    for number, image in rendered:
        if number <= thumbnail_pages:
            thumbs.append(PageImage(number, _png(image, 0, 0, thumbnail_width)))
        if number <= ocr_pages:
            ocr.append(PageImage(number, _png(image, 0, 0, None)))
    return DocumentInfo(pages=pages, resolution=resolution, thumbnails=tuple(thumbs),
                        ocr_pages=tuple(ocr))


def _check_page_boxes(reader: object, pages: int, filename: str) -> None:
    """Refuse pages far larger than A3 before rasterising them (memory bomb guard)."""
    for index in range(pages):
        try:
            box = reader.pages[index].mediabox  # type: ignore[attr-defined]
            width, height = abs(float(box.width)), abs(float(box.height))
        except Exception as exc:  # pypdf raises many types on broken page trees
            raise NotAFax(f"{filename}: page {index + 1} is unreadable ({exc})") from exc
        if width > MAX_PDF_PAGE_PT or height > MAX_PDF_PAGE_PT:
            raise NotAFax(f"{filename}: page {index + 1} is {width:.0f}x{height:.0f} pt, "
                          "not a fax page; refused unread", code=552, status="5.3.4")


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


def _pdftoppm(data: bytes, pages: int) -> list[tuple[int, Image.Image]]:
    """Rasterise the first pages with poppler's ``pdftoppm`` at fax resolution, if present."""
    exe = shutil.which("pdftoppm")
    if exe is None or pages < 1:
        return []
    with tempfile.TemporaryDirectory(prefix="fax-pdf-") as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        try:
            subprocess.run([exe, "-gray", "-r", "200", "-f", "1", "-l", str(pages),
                            "-png", str(src), str(Path(tmp) / "p")],
                           check=True, capture_output=True, timeout=PDFTOPPM_TIMEOUT_S)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise NotAFax(f"PDF pages could not be rendered ({exc})") from exc
        out = []
        for path in sorted(Path(tmp).glob("p-*.png"), key=lambda p: int(p.stem.split("-")[1])):
            with Image.open(path) as img:
                img.load()
                out.append((int(path.stem.split("-")[1]), img.copy()))
        return out
