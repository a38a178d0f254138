"""A site photo attached to a unit's answer (issue 13 item 7).

The handler who drafts the answer may add the photo taken on site (the repaired lamp,
the cleared road): it becomes one of the case's files, and an ``answer_photo`` event
says which assignment's answer it belongs to. The same people, at the same moments, as
may draft (R8.2a): the unit's own staff while the answer is theirs to write.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.words import held
from forwarder.workflow_base import (
    ASSIGNMENT_MOVES,
    Actor,
    WorkflowError,
    add_event,
    load_assignment,
    require_unit,
)
from registrar.models import AttachmentRecord

PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})


async def attach_answer_photo(session: AsyncSession, assignment_id: int, *, sha256: str,
                              filename: str, content_type: str, size: int, actor: Actor,
                              now: datetime) -> AttachmentRecord:
    """Add a stored photo to the case as part of ``assignment_id``'s answer."""
    if content_type not in PHOTO_TYPES:
        raise WorkflowError("现场照片须为 JPEG、PNG、WEBP 或 GIF 图片", code="invalid")
    assignment, case, unit = await load_assignment(session, assignment_id)
    require_unit(actor, unit, "draft")
    if assignment.state not in ASSIGNMENT_MOVES["draft"]:
        raise WorkflowError(f"这项交办当前为“{held(assignment.state)}”，不能再添加答复照片")
    record = AttachmentRecord(case_id=case.id, sha256=sha256, filename=filename[:255],
                              content_type=content_type, size=size)
    session.add(record)
    add_event(session, case, actor, "answer_photo", now=now, assignment=assignment,
              data={"sha256": sha256, "assignment": assignment.id})
    await session.flush()
    return record
