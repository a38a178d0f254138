"""Server-rendered SVG charts, each drawn from the same ``Chart`` as its table and its CSV.

Why SVG on the server: the desks load nothing from a CDN and run no inline
script (the CSP forbids it), the charts must print, and a screen reader or a
test must find the same numbers as the eye. So a chart is data first
(``Chart``: categories × series, each number with the link to its cases), and
three views of it: ``svg`` (bars carry ``data-series``/``data-value``),
the HTML table beside it, and ``csv_text``. Colours are SVG attributes, not
``style``, which the CSP would block.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

PALETTE = ("#2f6fb0", "#d9822b", "#c23030", "#7a5195", "#3a9d5d", "#8c8c8c")
NAMED = {"red": "#c23030", "yellow": "#e0a800", "green": "#3a9d5d"}
FONT = 'font-family="Noto Sans CJK SC, WenQuanYi Zen Hei, sans-serif"'


@dataclass(frozen=True, slots=True)
class Row:
    """One category: its label, a number per series, and where each number leads."""

    label: str
    values: tuple[float | int | None, ...]
    links: tuple[str | None, ...] = ()

    def link(self, i: int) -> str | None:
        return self.links[i] if i < len(self.links) else None


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart's data: ``key`` names its CSV, ``series`` its columns, ``rows`` its categories."""

    key: str
    title: str
    category: str
    series: tuple[str, ...]
    rows: tuple[Row, ...]
    horizontal: bool = False
    stacked: bool = False
    colours: tuple[str, ...] = field(default_factory=tuple)
    unit: str = ""
    """What the numbers count (件, %, 分), shown in the caption."""

    def colour(self, i: int) -> str:
        if i < len(self.colours):
            return NAMED.get(self.colours[i], self.colours[i])
        return PALETTE[i % len(PALETTE)]


def _number(v: float | int | None) -> str:
    if v is None:
        return "—"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _bar(chart: Chart, row: Row, i: int, x: float, y: float, w: float, h: float) -> str:
    value = row.values[i]
    rect = (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
            f'fill="{chart.colour(i)}" data-label="{escape(row.label)}" '
            f'data-series="{escape(chart.series[i])}" data-value="{_number(value)}">'
            f'<title>{escape(row.label)} · {escape(chart.series[i])}：{_number(value)}</title></rect>')
    link = row.link(i)
    return f'<a href="{escape(link)}">{rect}</a>' if link else rect


def svg(chart: Chart, *, width: int = 640) -> Markup:
    """The chart as inline SVG, scaled to its container (``viewBox``), printable."""
    return Markup(_horizontal(chart, width) if chart.horizontal else _vertical(chart, width))


def _scale(chart: Chart) -> float:
    def size(row: Row) -> float:
        nums = [float(v or 0) for v in row.values]
        return sum(nums) if chart.stacked else max(nums, default=0.0)
    return max([size(r) for r in chart.rows] + [1.0])


def _legend(chart: Chart, y: float) -> str:
    parts = []
    for i, name in enumerate(chart.series):
        x = 8 + i * 150
        parts.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{chart.colour(i)}"/>'
                     f'<text x="{x + 16}" y="{y + 11}" font-size="12" {FONT}>{escape(name)}</text>')
    return "".join(parts)


def _horizontal(chart: Chart, width: int) -> str:
    label_w, bar_h, gap, top = 170, 16, 6, 24
    per_row = bar_h if chart.stacked else bar_h * max(len(chart.series), 1)
    height = top + len(chart.rows) * (per_row + gap) + 8
    top_value, span = _scale(chart), width - label_w - 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
           f'class="chart" id="chart-{chart.key}" aria-label="{escape(chart.title)}">',
           _legend(chart, 4)]
    for n, row in enumerate(chart.rows):
        y = top + n * (per_row + gap)
        out.append(f'<text x="{label_w - 6}" y="{y + per_row / 2 + 4:.1f}" font-size="12" '
                   f'text-anchor="end" {FONT}>{escape(row.label[:14])}</text>')
        x = float(label_w)
        for i in range(len(chart.series)):
            w = span * float(row.values[i] or 0) / top_value
            if chart.stacked:
                out.append(_bar(chart, row, i, x, y, w, bar_h))
                x += w
            else:
                out.append(_bar(chart, row, i, label_w, y + i * bar_h, w, bar_h - 1))
        total = sum(float(v or 0) for v in row.values) if chart.stacked else None
        if total is not None:
            out.append(f'<text x="{x + 4:.1f}" y="{y + 12}" font-size="11" {FONT}>{total:g}</text>')
    out.append("</svg>")
    return "".join(out)


def _vertical(chart: Chart, width: int) -> str:
    height, top, bottom, left = 220, 24, 40, 36
    plot_h, n = height - top - bottom, max(len(chart.rows), 1)
    slot = (width - left - 8) / n
    top_value = _scale(chart)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
           f'class="chart" id="chart-{chart.key}" aria-label="{escape(chart.title)}">',
           _legend(chart, 4),
           f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" '
           f'stroke="#888"/>',
           f'<text x="{left - 4}" y="{top + 10}" font-size="10" text-anchor="end" {FONT}>'
           f'{top_value:g}</text>']
    every = max(1, -(-n // 10))  # at most ~10 axis labels: readable in half of 1366 px
    for k, row in enumerate(chart.rows):
        x0 = left + k * slot
        inner = slot * 0.8 / (1 if chart.stacked else max(len(chart.series), 1))
        base = float(top + plot_h)
        for i in range(len(chart.series)):
            h = plot_h * float(row.values[i] or 0) / top_value
            if chart.stacked:
                out.append(_bar(chart, row, i, x0 + slot * 0.1, base - h, inner, h))
                base -= h
            else:
                out.append(_bar(chart, row, i, x0 + slot * 0.1 + i * inner, base - h, inner, h))
        if k % every == 0:
            out.append(f'<text x="{x0 + slot / 2:.1f}" y="{top + plot_h + 14}" font-size="10" '
                       f'text-anchor="middle" {FONT}>{escape(row.label[-5:])}</text>')
    out.append("</svg>")
    return "".join(out)


def csv_text(chart: Chart) -> str:
    """The chart's table as CSV: the category, then one column per series."""
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow([chart.category, *chart.series])
    for row in chart.rows:
        out.writerow([row.label, *("" if v is None else v for v in row.values)])
    return buf.getvalue()
