"""The handler's site photo for an answer: a multipart form on the case page (issue 13 item 7).

The desk's action forms post JSON; a photo cannot, so this one form posts multipart
with the session's CSRF field (checked by ``signed_in``, which reads the form first).
The bytes are checked as the citizen form checks them (a real image, not too many
pixels); ``forwarder.answer_media`` decides who may add one when, and only then is the
file stored by its digest, before the row commits.
"""

from __future__ import annotations

import hashlib
import io

from aiohttp import web
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from contract.images import oversized_image
from desks.access.permissions import visible
from desks.staff.auth_pages import see_other
from desks.staff.deps import DESK, current
from forwarder.answer_media import attach_answer_photo
from forwarder.workflow_base import WorkflowError
from registrar.models import Assignment, Case

MAX_PHOTO_BYTES = 10 * 1_048_576
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg", "jpg"), (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
          (b"GIF87a", "image/gif", "gif"), (b"GIF89a", "image/gif", "gif"))


def photo_type(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) of a photo by its first bytes; the declared type is not trusted."""
    for magic, content_type, ext in _MAGIC:
        if data.startswith(magic):
            return content_type, ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def _readable(data: bytes) -> bool:
    """Pillow can read the whole image: a photo, not just bytes that start like one."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return False
    return True


async def _read_photo(request: web.Request) -> bytes:
    """The posted photo's bytes. ``request.post()``: the CSRF check has read the form already
    (aiohttp keeps it), within the app's body limit."""
    field = (await request.post()).get("photo")
    if not isinstance(field, web.FileField):
        return b""
    data = field.file.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_PHOTO_BYTES, actual_size=len(data),
                                            text="照片超过 10 MB，请压缩后再上传")
    return data


async def upload(request: web.Request) -> web.StreamResponse:
    """POST /desk/assignments/{id}/photo: store the photo, attach it to the answer, back to the case."""
    principal = current(request).principal
    deps = request.app[DESK]
    try:
        assignment_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="没有这项交办") from None
    async with deps.sessionmaker() as session:
        number = (await session.execute(select(Case.number).join(
            Assignment, Assignment.case_id == Case.id).where(
            Assignment.id == assignment_id, visible(principal)))).scalar_one_or_none()
    if number is None:
        raise web.HTTPNotFound(text="没有这项交办，或您无权查看")
    data = await _read_photo(request)
    kind = photo_type(data)
    if not data or kind is None or not _readable(data) or oversized_image(data) is not None \
            or deps.attachments is None:
        return see_other(f"/desk/cases/{number}?photo=refused")
    try:
        async with deps.sessionmaker.begin() as session:
            # The rules first; the file reaches the disk (fsynced) before the row commits.
            await attach_answer_photo(session, assignment_id, sha256=hashlib.sha256(data).hexdigest(),
                                      filename=f"现场照片.{kind[1]}", content_type=kind[0],
                                      size=len(data), actor=principal.actor, now=deps.ctx.clock.now())
            await deps.attachments.put(data)
    except WorkflowError as exc:
        raise web.HTTPForbidden(text=str(exc)) from None
    return see_other(f"/desk/cases/{number}?photo=added")


def add_answer_photo_routes(app: web.Application) -> None:
    app.router.add_post("/desk/assignments/{id}/photo", upload)
