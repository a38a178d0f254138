"""R8.5b: a closed item is refused stopping for its state, not for its count, so the bureau's
repeats panel (shown when only the count stands in the way) leaves closed items alone."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import workflow as wf
from forwarder import workflow_special as sp
from forwarder.workflow_base import Context, WorkflowError
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import CITY, URBAN, answer_and_submit, dispatched, lead_of


async def test_R8_5b_stopping_a_closed_item_is_refused_for_its_state(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    await dispatched(session, ctx, case.number)
    lead = await lead_of(session, case.number, "city-urban")
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    await wf.decide_publication(session, ctx, case.number, publish=True, actor=CITY)
    with pytest.raises(WorkflowError, match="当前为“已办结”，不能停止交办"):
        await sp.stop_dispatch(session, ctx, case.number, CITY)
    fresh = await make.case("小区电梯经常故障")
    with pytest.raises(WorkflowError, match="R8.5b"):  # a new item: only the count refuses
        await sp.stop_dispatch(session, ctx, fresh.number, CITY)
