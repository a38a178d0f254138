"""Where a Chinese font is on this machine, for documents that embed one (bulletin PDFs).

The fax channel (``channels/fax_smtp/render.py``) and the bulletins
(``forwarder/bulletin_render.py``) both use it: a channel may import only the
contract, and the forwarder may not import a channel, so the one lookup every
layer may share lives here. Debian's packages:
``fonts-wqy-zenhei`` or ``fonts-noto-cjk``. Without one, rendering fails
loudly instead of printing boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: (path, face index in the collection): Noto's index 2 is Simplified Chinese.
KNOWN_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)


class FontNotFound(RuntimeError):
    """No CJK font is installed, so a Chinese document cannot be rendered."""


@dataclass(frozen=True, slots=True)
class CjkFont:
    """A font file and the face to use from it."""

    path: Path
    index: int


def find_cjk_font(path: str = "", index: int = -1, *, prefer: str = "",
                  setting: str = "") -> CjkFont:
    """The font at ``path`` when given, else the first known Debian CJK font present.

    ``prefer`` is a path of ``KNOWN_FONTS`` to try before the others (a document
    that always used that face keeps it); ``setting`` names the setting that sets
    ``path``, for the error message."""
    if path:
        found = Path(path)
        if not found.is_file():
            raise FontNotFound(f"configured font {path!r} does not exist")
        return CjkFont(found, max(index, 0))
    known = sorted(KNOWN_FONTS, key=lambda known_font: known_font[0] != prefer)
    for candidate, face in known:
        if Path(candidate).is_file():
            return CjkFont(Path(candidate), face if index < 0 else index)
    where = f", or set {setting}" if setting else ""
    raise FontNotFound("no CJK font found; install the Debian package fonts-noto-cjk (or "
                       f"fonts-wqy-zenhei){where}. Looked in: {', '.join(p for p, _ in known)}")
