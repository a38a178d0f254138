"""Rasterising a received PDF fax's first pages with pypdfium2, in a child process.

Why pypdfium2: it installs from PyPI with its own pdfium binary, so ``make run``
needs only Python (poppler's ``pdftoppm`` was a system package).

Why a child process (this file run by path, ``python -I pdfpages.py``): pdfium is not
thread-safe and the handler runs documents in worker threads; a hostile PDF
whose content streams take minutes to draw must be killable (``timeout_s``);
and the child's address space is capped, so a page that tries to eat memory
kills the child, never the service.

Why a pixel budget rather than a page-size limit: many fax-to-email services
write the fax's pixel size as points (a 1728 x 2292 pt "page" at 72 dpi); a
decompression bomb is a *rendering* that is too large, so each page is drawn at
fax resolution unless that would exceed ``MAX_RENDER_PIXELS``, then smaller.
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

RENDER_DPI = 200.0
MAX_RENDER_PIXELS = 8_000_000
"""About twice an A4 page at 200 dpi; a gray bitmap of this size is 8 MB."""
MAX_RENDER_SIDE = 15_000
CHILD_MEMORY_BYTES = 1 << 30
_FRAME = struct.Struct(">II")  # page number, PNG length


class RenderFailed(Exception):
    """The child could not render the pages (damaged PDF, timeout, out of memory)."""


def render_scale(width_pt: float, height_pt: float, *, dpi: float = RENDER_DPI,
                 max_pixels: int = MAX_RENDER_PIXELS, max_side: int = MAX_RENDER_SIDE) -> float:
    """The scale (pixels per point) that draws the page at ``dpi`` within the pixel budget."""
    width, height = max(abs(width_pt), 1.0), max(abs(height_pt), 1.0)
    scale = min(dpi / 72.0, math.sqrt(max_pixels / (width * height)),
                max_side / max(width, height))
    # The renderer rounds each side up: shrink until the rounded bitmap fits too.
    while (math.ceil(width * scale) * math.ceil(height * scale) > max_pixels
           or math.ceil(max(width, height) * scale) > max_side):
        scale *= 0.995
    return scale


def render_pages(data: bytes, pages: int, *, timeout_s: float) -> list[tuple[int, bytes]]:
    """The first ``pages`` pages as (number, grayscale PNG); raise ``RenderFailed``."""
    if pages < 1:
        return []
    try:
        # By path and isolated (-I): the child imports pypdfium2 and Pillow, not our packages.
        done = subprocess.run([sys.executable, "-I", str(Path(__file__)), str(pages)],
                              input=data, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RenderFailed(f"rendering took longer than {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["killed"]
        raise RenderFailed(f"renderer exited {done.returncode}: {last[0][:200]}")
    return _unframe(done.stdout)


def _unframe(blob: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(blob):
        number, length = _FRAME.unpack_from(blob, offset)
        offset += _FRAME.size
        out.append((number, blob[offset:offset + length]))
        offset += length
    return out


def _render_into(data: bytes, pages: int, out: BinaryIO) -> None:
    """Child side: draw each page within the budget and write framed PNGs."""
    import io

    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        for index in range(min(pages, len(document))):
            page = document[index]
            try:
                width_pt, height_pt = page.get_size()
                bitmap = page.render(scale=render_scale(width_pt, height_pt), grayscale=True,
                                     may_draw_forms=False)
                png = io.BytesIO()
                bitmap.to_pil().convert("L").save(png, format="PNG")
            finally:
                page.close()
            out.write(_FRAME.pack(index + 1, len(png.getvalue())))
            out.write(png.getvalue())
    finally:
        document.close()


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    except (ImportError, ValueError, OSError):  # not on this platform: the timeout still holds
        pass


def main(argv: list[str]) -> int:
    """``python -I pdfpages.py PAGES`` < fax.pdf > framed PNGs."""
    _limit_memory()
    _render_into(sys.stdin.buffer.read(), int(argv[0]), sys.stdout.buffer)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
