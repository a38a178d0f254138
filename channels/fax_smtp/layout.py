"""Page layout of a fax reply, independent of the drawing library.

Takes logical lines and a ``measure(text, size_pt) -> mm`` from the renderer,
wraps Chinese text (no spaces between words; closing punctuation never starts
a line), places lines on A4 pages and, when the answer would run past the
page limit, cuts the body with a note that names the case number, so the
citizen can fetch the full answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PAGE_W_MM, PAGE_H_MM = 210.0, 297.0
MARGIN_X_MM, TOP_MM, BOTTOM_MM = 22.0, 20.0, 272.0
FOOTER_Y_MM = 282.0
PT_TO_MM = 25.4 / 72
LEADING = 1.6
NO_LINE_START = set("，。、；：！？）》」』”’,.;:!?)]}%")
_TOKEN = re.compile(r"[A-Za-z0-9_\-./:@%+#]+|\s+|.", re.DOTALL)

Measure = Callable[[str, float], float]


@dataclass(frozen=True, slots=True)
class Line:
    """One line of text placed on a page (top-left corner in millimetres)."""

    text: str
    size_pt: float
    x_mm: float
    y_mm: float


def wrap(text: str, size_pt: float, measure: Measure, width_mm: float) -> list[str]:
    """Greedy wrap by the font's own widths; an over-long token is cut by characters."""
    if not text.strip():
        return [""]
    lines: list[str] = []
    current = ""
    for token in _TOKEN.findall(text):
        candidate = current + token
        if measure(candidate, size_pt) <= width_mm or not current:
            current = candidate
        elif token[0] in NO_LINE_START:
            current = candidate  # hang the punctuation rather than start a line with it
        elif token.isspace():
            lines.append(current.rstrip())
            current = ""
        else:
            lines.append(current.rstrip())
            current = token
        while measure(current, size_pt) > width_mm and len(current) > 1 \
                and current[-1] not in NO_LINE_START:
            cut = _fit(current, size_pt, measure, width_mm)
            lines.append(current[:cut])
            current = current[cut:]
    if current.strip():
        lines.append(current.rstrip())
    return lines


def _fit(text: str, size_pt: float, measure: Measure, width_mm: float) -> int:
    cut = len(text) - 1
    while cut > 1 and measure(text[:cut], size_pt) > width_mm:
        cut -= 1
    return cut


def paginate(logical: Sequence[tuple[str, float, str]], measure: Measure, *,
             max_pages: int, case_number: str) -> list[list[Line]]:
    """Wrap, place and number the pages; cut the body to fit ``max_pages``."""
    width = PAGE_W_MM - 2 * MARGIN_X_MM
    visual: list[tuple[str, float, str]] = []
    for text, size, role in logical:
        visual += [(part, size, role) for part in wrap(text, size, measure, width)]
    sign_at = max((i for i, (_, _, role) in enumerate(visual) if role != "sign"), default=-1)
    head_body, tail = visual[: sign_at + 1], visual[sign_at + 1:]
    pages = _flow(head_body + tail, measure)
    if len(pages) > max_pages:
        note = f"（答复全文较长，以下从略；请凭案件编号 {case_number} 查询全文。）"
        cut_note = [(part, 12.0, "body") for part in wrap(note, 12.0, measure, width)]
        keep = len(head_body)
        while keep > 0:
            keep -= 1
            pages = _flow(head_body[:keep] + cut_note + tail, measure)
            if len(pages) <= max_pages:
                break
    total = len(pages)
    for number, page in enumerate(pages, start=1):
        footer = f"案件编号 {case_number} · 第 {number} 页，共 {total} 页"
        size = 9.0
        page.append(Line(footer, size, (PAGE_W_MM - measure(footer, size)) / 2, FOOTER_Y_MM))
    return pages


def _flow(visual: Sequence[tuple[str, float, str]], measure: Measure) -> list[list[Line]]:
    pages: list[list[Line]] = [[]]
    y = TOP_MM
    for text, size, role in visual:
        height = size * PT_TO_MM * LEADING
        if y + height > BOTTOM_MM and pages[-1]:
            pages.append([])
            y = TOP_MM
        if text:
            pages[-1].append(Line(text, size, _x(text, size, role, measure), y))
        y += height
    return pages


def _x(text: str, size: float, role: str, measure: Measure) -> float:
    if role == "center":
        return max(MARGIN_X_MM, (PAGE_W_MM - measure(text, size)) / 2)
    if role == "sign":
        return max(MARGIN_X_MM, PAGE_W_MM - MARGIN_X_MM - measure(text, size))
    return MARGIN_X_MM
