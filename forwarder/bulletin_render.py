"""A bulletin drawn twice from one ``BulletinData``: HTML for the browser, PDF for paper.

The PDF embeds a subset of a Chinese font (``contract.cjk_font``), as the fax
replies do, so it reads and prints the same everywhere and its text can be
extracted and checked (``pdftotext``). Tables are laid out with fixed column
widths on A4 landscape, where the per-unit table fits at a readable size.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jinja2

from contract.cjk_font import CjkFont, find_cjk_font
from forwarder.bulletins import KINDS, BulletinData

CLOCKS = {"dispatch": "交办", "read": "阅件", "answer": "答复", "review": "审核", "redo": "重办",
          "return_decision": "退回决定"}
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
    autoescape=True)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:g}%"


def render_html(b: BulletinData) -> str:
    return _TEMPLATES.get_template("bulletin.html").render(b=b, kinds=KINDS, pct=pct, clocks=CLOCKS)


def _sat(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def render_pdf(b: BulletinData, font: CjkFont) -> bytes:
    """The bulletin as an A4 landscape PDF with the font subset embedded."""
    from fpdf import FPDF

    # WenQuanYi ships embedded bitmaps fontTools cannot subset; it drops them, harmlessly.
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_font("cjk", "", str(font.path), collection_font_number=font.index)
    pdf.set_title(b.title)
    pdf.set_creator("12345 效能监督")
    pdf.add_page()
    pdf.set_font("cjk", size=18)
    pdf.set_text_color(183, 28, 28)
    pdf.cell(0, 12, f"{b.scope or '福州市'}12345热线效能监督{KINDS[b.kind]}", align="C",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 7, b.number, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, f"统计期间：{b.first.isoformat()} 至 {b.last.isoformat()}    编发时间："
             f"{b.made_at.astimezone(b.zone).strftime('%Y-%m-%d %H:%M')}", align="C",
             new_x="LMARGIN", new_y="NEXT")

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font("cjk", size=13)
        pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=10)

    def table(widths: list[float], header: list[str], rows: list[list[str]]) -> None:
        pdf.set_font("cjk", size=9)
        pdf.set_fill_color(230, 234, 240)
        for w, text in zip(widths, header, strict=True):
            pdf.cell(w, 6, text, border=1, fill=True, align="C")
        pdf.ln()
        for row in rows or [["无"] + [""] * (len(widths) - 1)]:
            for i, (w, text) in enumerate(zip(widths, row, strict=True)):
                pdf.cell(w, 6, _fit(pdf, text, w), border=1, align="L" if i == 0 else "R")
            pdf.ln()

    t = b.total
    heading("一、总体情况")
    pdf.multi_cell(0, 6, f"本期登记诉求 {b.registered} 件，交办单位 {t['dispatched']} 件；按时阅办率 "
                   f"{pct(t.read_rate)}，按时答复率 {pct(t.answer_rate)}，重办率 {pct(t.redo_rate)}，"
                   f"群众满意度 {_sat(t.satisfaction)}（满分 5 分）。", new_x="LMARGIN", new_y="NEXT")
    heading("二、通报和效能告诫")
    pdf.multi_cell(0, 6, f"本期发出通报 {b.notices} 次、效能告诫 {b.warnings} 次（R11.2）。",
                   new_x="LMARGIN", new_y="NEXT")
    table([22, 75, 45, 55, 20, 60], ["时间", "单位", "类别", "责任人", "认定", "案件"],
          [[f.created_at.astimezone(b.zone).strftime("%m-%d"), f.unit_name, f.kind, f.persons or "—",
            f.status, f.number or "—"] for f in b.findings])
    heading("三、各单位办理情况")
    table([68, 16, 24, 24, 20, 20, 20, 22, 16, 20, 17],
          ["单位", "交办", "按时阅办率", "按时答复率", "逾期阅办", "逾期答复", "逾期办理", "过期未处理",
           "退回", "重办率", "满意度"],
          [[u.unit_name, str(u["dispatched"]), pct(u.read_rate), pct(u.answer_rate),
            str(u["read_late"]), str(u["answered_late"]), str(u["overdue_handling"]),
            str(u["expired_unhandled"]), str(u["returns"]), pct(u.redo_rate), _sat(u.satisfaction)]
           for u in b.units])
    heading(f"四、逾期未办结件（截至编发时，逾期最久的 {len(b.worst)} 件）")
    table([80, 90, 50, 50], ["案件", "单位", "期限", "应于"],
          [[r.number, r.unit_name, f"{CLOCKS.get(r.kind, r.kind)}（{r.rule}）",
            r.due_at.astimezone(b.zone).strftime("%Y-%m-%d")] for r in b.worst])
    heading("五、表扬（R12.1）")
    table([20, 120, 30, 30], ["名次", "单位", "交办", "得分"],
          [[str(i), r.stats.unit_name, str(r.stats.dispatched), f"{r.score:g}"]
           for i, r in enumerate(b.commended, 1)])
    return bytes(pdf.output())


def _fit(pdf: Any, text: str, width: float) -> str:
    """``text`` cut to the cell's width, so a long unit name never runs into the next cell."""
    while text and pdf.get_string_width(text) > width - 2:
        text = text[:-1]
    return text


class Render:
    """Both views of a bulletin. The font is looked up at the first bulletin, not at start:
    a machine without a CJK font still serves, and its worker logs what to install."""

    def __init__(self, font_path: str = "") -> None:
        self.font_path = font_path
        self.font: CjkFont | None = None

    def __call__(self, b: BulletinData) -> tuple[str, bytes]:
        if self.font is None:
            self.font = find_cjk_font(self.font_path)
        return render_html(b), render_pdf(b, self.font)


def renderer(font_path: str = "") -> Render:
    """A ``bulletins.Renderer``; ``font_path`` overrides the Debian font search."""
    return Render(font_path)
