"""R8.2a: a site photo joins the answer while the unit may still draft it (issue 13 item 7)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import workflow as wf
from forwarder.answer_media import attach_answer_photo
from forwarder.workflow_base import Actor, Context, WorkflowError
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import CITY, HOUSING, URBAN, answer_and_submit, dispatched, lead_of

DIGEST = "a" * 64


async def _attach(session: AsyncSession, ctx: Context, assignment_id: int, actor: Actor,
                  content_type: str = "image/jpeg") -> None:
    await attach_answer_photo(session, assignment_id, sha256=DIGEST, filename="现场照片.jpg",
                              content_type=content_type, size=10, actor=actor,
                              now=ctx.clock.now())


async def test_R8_2a_the_unit_attaches_a_site_photo_while_it_drafts(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    await dispatched(session, ctx, case.number)
    lead = await lead_of(session, case.number, "city-urban")
    with pytest.raises(WorkflowError, match="不能再添加答复照片"):  # not read yet
        await _attach(session, ctx, lead.id, URBAN)
    await wf.read(session, ctx, lead.id, URBAN)
    await _attach(session, ctx, lead.id, URBAN)
    for stranger in (HOUSING, CITY):
        with pytest.raises(WorkflowError, match="只有福州市城市管理委员会可以"):
            await _attach(session, ctx, lead.id, stranger)
    with pytest.raises(WorkflowError, match="JPEG"):
        await _attach(session, ctx, lead.id, URBAN, content_type="application/pdf")
    await answer_and_submit(session, ctx, lead.id, URBAN, read=False)
    with pytest.raises(WorkflowError, match="已提交待审核"):
        await _attach(session, ctx, lead.id, URBAN)
