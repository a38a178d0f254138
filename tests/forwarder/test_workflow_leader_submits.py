"""R8.2c in one step (issue 13 item 4): where the unit's setting says so, the leader's approval
sends the answer on; elsewhere approval and submission stay two steps."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import admin
from forwarder import workflow as wf
from forwarder.workflow_base import Context, WorkflowError
from registrar.models import AssignmentState
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import URBAN, URBAN_LEADER, actions, dispatched, lead_of


async def _drafted(session: AsyncSession, ctx: Context, make: Maker) -> int:
    case = await make.case()
    await dispatched(session, ctx, case.number)
    lead = await lead_of(session, case.number, "city-urban")
    await wf.read(session, ctx, lead.id, URBAN)
    await wf.draft(session, ctx, lead.id, wf.Answer("已派人维修，路灯已恢复照明。"), URBAN)
    return lead.id


async def test_R8_2c_leader_approves_and_submits_in_one_step_where_the_unit_says_so(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    await admin.set_leader_submits(session, "city-urban", True)
    lead_id = await _drafted(session, ctx, make)
    lead = await wf.approve_and_submit(session, ctx, lead_id, URBAN_LEADER)
    assert lead.state == AssignmentState.SUBMITTED and lead.approved_by == URBAN_LEADER.name
    moves = await actions(session, lead.case_id)
    assert moves[-2:] == ["approve", "submit"]


async def test_R8_2c_without_the_setting_approval_and_submission_stay_two_steps(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    lead_id = await _drafted(session, ctx, make)
    with pytest.raises(WorkflowError, match="未设置“领导审批后直接报送”"):
        await wf.approve_and_submit(session, ctx, lead_id, URBAN_LEADER)
    await admin.set_leader_submits(session, "city-urban", True)
    with pytest.raises(WorkflowError, match="R8.2c: 只有单位分管领导可以审批答复"):
        await wf.approve_and_submit(session, ctx, lead_id, URBAN)
