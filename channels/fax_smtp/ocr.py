"""Optional OCR of fax pages with the ``tesseract`` command (Debian tesseract-ocr-chi-sim).

Machine text is a help for the agent, never the record: the envelope marks it
"【机器识别，待人工核对】" and the agent checks it against the page images. OCR
failing or missing never stops a fax from being registered. Run as a
subprocess (no blocking call in the event loop) with ``OMP_THREAD_LIMIT=1``,
which CHANNELS.md measured at 0.38 s a page instead of 1.35 s.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import unicodedata
from collections.abc import Sequence

from channels.fax_smtp.document import PageImage

log = logging.getLogger(__name__)



def tesseract_available() -> bool:
    """Whether the ``tesseract`` command is installed on this machine."""
    return shutil.which("tesseract") is not None


async def ocr_pages(pages: Sequence[PageImage], *, languages: str,
                    timeout_s: float) -> str | None:
    """Text of the pages, page by page, or None when OCR is unavailable or failed."""
    exe = shutil.which("tesseract")
    if exe is None or not pages:
        return None
    parts: list[str] = []
    try:
        async with asyncio.timeout(timeout_s):
            for page in pages:
                text = await _one_page(exe, page.png, languages)
                if text is None:
                    return None
                parts.append(f"〔第{page.page}页〕\n{text}")
    except TimeoutError:
        log.warning("fax OCR timed out after %.0f s; registering without machine text",
                    timeout_s)
        return None
    return "\n".join(parts).strip() or None


async def _one_page(exe: str, png: bytes, languages: str) -> str | None:
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    proc = await asyncio.create_subprocess_exec(
        exe, "stdin", "stdout", "-l", languages, "--psm", "6",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    try:
        out, err = await proc.communicate(png)
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        log.warning("tesseract failed (rc=%s): %s", proc.returncode,
                    err.decode("utf-8", "replace")[-300:])
        return None
    return _tidy(out.decode("utf-8", errors="replace"))


def _tidy(text: str) -> str:
    """NFKC folds full-width punctuation; tesseract puts spaces between Chinese characters."""
    lines = []
    for line in unicodedata.normalize("NFKC", text).splitlines():
        line = " ".join(line.split())
        line = _join_cjk(line)
        if line:
            lines.append(line)
    return "\n".join(lines)


def _join_cjk(line: str) -> str:
    out: list[str] = []
    for i, ch in enumerate(line):
        if ch == " " and 0 < i < len(line) - 1 and _wide(line[i - 1]) and _wide(line[i + 1]):
            continue
        out.append(ch)
    return "".join(out)


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")
