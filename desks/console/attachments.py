"""``GET /desk/attachments/{sha256}``: a case's stored file, to staff who may see that case.

Files are stored once under their hash (``registrar.attachments``) and may
belong to several cases; the file is served when at least one case holding it
is visible to the signed-in member of staff (``desks.access.permissions.visible``),
and answers 404 otherwise, so a hash never reveals whether a file exists.
Citizens' uploads are untrusted: only images and PDF are shown inline, every
other type is a download under a sandboxing CSP, and nothing is sniffed. An
image whose header claims more pixels than ``contract.images`` allows is a
download too, so no desk browser decodes a pixel bomb. Recordings (voicemail)
play inline in an ``<audio>`` element and are served from the file with Range
support (``FileResponse``): browsers ask for byte ranges to seek, and a WAV of
minutes need not be read into memory for each request.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select

from contract.images import oversized_image
from desks.access.permissions import visible
from desks.console.deps import CONSOLE
from desks.staff.deps import current
from registrar.models import AttachmentRecord, Case

INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff",
                          "application/pdf"})
"""Shown in the browser; never SVG or HTML, which could run script."""
AUDIO_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/mpeg", "audio/ogg"})
"""Played inline by the desk's ``<audio>`` elements (a browser runs no script from these)."""


def _hex_digest(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _disposition(kind: str, filename: str) -> str:
    """RFC 6266 with an RFC 5987 UTF-8 name (Chinese file names), ASCII fallback."""
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_"
                         for c in filename) or "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def attachment(request: web.Request) -> web.StreamResponse:
    """The file's bytes with its stored content type, when a visible case holds it."""
    digest = request.match_info["sha256"].lower()
    if not _hex_digest(digest):
        raise web.HTTPNotFound(text="没有这个附件")
    principal = current(request).principal
    async with request.app[CONSOLE].sessionmaker() as session:
        record = (await session.execute(
            select(AttachmentRecord).join(Case, Case.id == AttachmentRecord.case_id)
            .where(AttachmentRecord.sha256 == digest, visible(principal))
            .order_by(AttachmentRecord.id).limit(1))).scalar_one_or_none()
    if record is None:
        raise web.HTTPNotFound(text="没有这个附件")
    if record.content_type in AUDIO_TYPES:
        return _audio(request, digest, record)
    try:
        data = await request.app[CONSOLE].attachments.get(digest)
    except FileNotFoundError:
        raise web.HTTPNotFound(text="附件文件缺失，请联系管理员") from None
    inline = record.content_type in INLINE_TYPES
    if inline and record.content_type.startswith("image/") and oversized_image(data):
        # A pixel bomb stored before the limits (or by a path without them) is not
        # decoded by the desk's browser: it becomes a download like any other file.
        inline = False
    headers = {
        "Content-Type": record.content_type or "application/octet-stream",
        "Content-Disposition": _disposition("inline" if inline else "attachment", record.filename),
        "X-Content-Type-Options": "nosniff",
        # Content-addressed, so it never changes; private: it is a citizen's file.
        "Cache-Control": "private, max-age=86400, immutable",
    }
    if not inline:
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return web.Response(body=data, headers=headers)


def _audio(request: web.Request, digest: str, record: AttachmentRecord) -> web.StreamResponse:
    """A recording from its file: Range requests (206, 416) are aiohttp's ``FileResponse``'s."""
    path = request.app[CONSOLE].attachments.path_for(digest)
    if not path.is_file():
        raise web.HTTPNotFound(text="附件文件缺失，请联系管理员")
    return web.FileResponse(path, headers={
        "Content-Type": record.content_type,
        "Content-Disposition": _disposition("inline", record.filename),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=86400, immutable",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    })


def add_attachment_routes(app: web.Application) -> None:
    app.router.add_get("/desk/attachments/{sha256}", attachment)
