"""The reply document for a fax-origin case: one or two A4 pages, PDF or fax TIFF.

One layout (in millimetres, wrapped with the font's own metrics) drawn twice:
by fpdf2 into a PDF with the CJK font embedded (so the text can be extracted
and checked), and by Pillow into a G4 TIFF at fax fine resolution (204×196
dpi, 1728 px wide). A CJK font from Debian is required: ``fonts-wqy-zenhei``
or ``fonts-noto-cjk``; without one this fails loudly instead of faxing boxes.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date

from PIL import Image, ImageDraw, ImageFont

from channels.fax_smtp.layout import PAGE_H_MM, paginate
from contract import cjk_font
from contract.cjk_font import CjkFont as CjkFont
from contract.cjk_font import FontNotFound as FontNotFound

#: The face fax replies were always drawn with, when installed (then the shared list's order).
FAX_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
FAX_WIDTH_PX = 1728
FAX_DPI = (204, 196)
MM_PER_INCH = 25.4


@dataclass(frozen=True, slots=True)
class FaxReply:
    """What goes on the reply pages."""

    case_number: str
    text: str
    day: date
    bureau_name: str
    title: str = "12345热线答复函"


def find_cjk_font(path: str = "", index: int = -1) -> CjkFont:
    """The configured fax font, else a known Debian CJK font (``contract.cjk_font``),
    WenQuanYi Zen Hei first as before the lookup was shared."""
    return cjk_font.find_cjk_font(path, index, prefer=FAX_FONT, setting="fax.outbound.font_path")


def render_pdf(reply: FaxReply, font: CjkFont, *, max_pages: int = 2) -> bytes:
    """The reply as a PDF with the font subset embedded."""
    from fpdf import FPDF

    # WenQuanYi ships embedded bitmaps fontTools cannot subset; it drops them, harmlessly.
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.add_font("cjk", "", str(font.path), collection_font_number=font.index)
    pdf.set_title(f"{reply.title} {reply.case_number}")
    pdf.set_creator(reply.bureau_name)

    def measure(text: str, size_pt: float) -> float:
        pdf.set_font("cjk", size=size_pt)
        return float(pdf.get_string_width(text))

    for page in paginate(reply_lines(reply), measure, max_pages=max_pages,
                         case_number=reply.case_number):
        pdf.add_page()
        for line in page:
            pdf.set_font("cjk", size=line.size_pt)
            pdf.set_xy(line.x_mm, line.y_mm)
            pdf.cell(text=line.text)
    return bytes(pdf.output())


def render_tiff(reply: FaxReply, font: CjkFont, *, max_pages: int = 2) -> bytes:
    """The reply as a multi-page G4 TIFF at fax fine resolution."""
    px_per_mm = FAX_DPI[0] / MM_PER_INCH
    fonts: dict[float, ImageFont.FreeTypeFont] = {}

    def face(size_pt: float) -> ImageFont.FreeTypeFont:
        if size_pt not in fonts:
            px = max(1, round(size_pt / 72 * FAX_DPI[0]))
            fonts[size_pt] = ImageFont.truetype(str(font.path), px, index=font.index)
        return fonts[size_pt]

    def measure(text: str, size_pt: float) -> float:
        return float(face(size_pt).getlength(text)) / px_per_mm

    square_h = round(PAGE_H_MM * px_per_mm)
    fax_h = round(PAGE_H_MM / MM_PER_INCH * FAX_DPI[1])
    frames: list[Image.Image] = []
    for page in paginate(reply_lines(reply), measure, max_pages=max_pages,
                         case_number=reply.case_number):
        canvas = Image.new("L", (FAX_WIDTH_PX, square_h), 255)
        draw = ImageDraw.Draw(canvas)
        for line in page:
            draw.text((line.x_mm * px_per_mm, line.y_mm * px_per_mm), line.text,
                      font=face(line.size_pt), fill=0)
        # Drawn with square pixels, then squeezed to the fax's 196 rows per inch.
        fine = canvas.resize((FAX_WIDTH_PX, fax_h), Image.Resampling.LANCZOS)
        frames.append(fine.point(lambda v: 255 if v > 160 else 0).convert("1"))
    out = io.BytesIO()
    # Pillow's default photometric (min-is-black) with G4: libtiff readers render it
    # right; forcing min-is-white through ``tiffinfo`` produced inverted pages here.
    frames[0].save(out, format="TIFF", compression="group4", dpi=FAX_DPI,
                   save_all=True, append_images=frames[1:])
    return out.getvalue()


def reply_lines(reply: FaxReply) -> list[tuple[str, float, str]]:
    """The document as (text, size in pt, role) before wrapping."""
    stamp = f"{reply.day.year}年{reply.day.month}月{reply.day.day}日"
    lines: list[tuple[str, float, str]] = [
        (reply.bureau_name, 16.0, "center"),
        (reply.title, 14.0, "center"),
        (f"案件编号：{reply.case_number}", 11.0, "head"),
        (f"日期：{stamp}", 11.0, "head"),
        ("", 11.0, "blank"),
    ]
    for paragraph in reply.text.replace("\r\n", "\n").split("\n"):
        lines.append((paragraph, 12.0, "body"))
    lines += [("", 12.0, "blank"), (reply.bureau_name, 12.0, "sign"),
              (stamp, 12.0, "sign")]
    return lines

