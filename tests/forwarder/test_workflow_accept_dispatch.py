"""R4.3 + R7.2 in one step (issue 13 item 4): the city bureau accepts and dispatches with one
press; the moves, events and clocks are those of the two steps, and a refused dispatch
leaves the item as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import workflow as wf
from forwarder.allowed import Caller, allowed_actions, case_facts
from forwarder.workflow_base import Context
from registrar.models import CaseStatus, Classification
from registrar.queries import case_detail
from tests.forwarder.api_kit import make_api
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import CITY, actions, lead_of

Client = TestClient[Any, Any]


async def test_R4_3_R7_2_accept_and_dispatch_in_one_step(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await wf.accept_and_dispatch(session, ctx, case.number, "city-urban", CITY,
                                          internal_reason="R6.3", reserved=True)
    assert (case.status, case.classification, case.internal_reason, case.reserved) == (
        CaseStatus.DISPATCHED, Classification.INTERNAL, "R6.3", True)
    assert lead.id == (await lead_of(session, case.number, "city-urban")).id
    assert [a for a in await actions(session, case.id) if a.startswith("case_")] == [
        "case_accept", "case_dispatch"]


async def test_R4_3_a_refused_dispatch_leaves_the_item_unaccepted(client: Client, tmp_path: Path) -> None:
    """Through the API, whose handler owns the transaction: one refusal, nothing half done."""
    api = await make_api(client, tmp_path)
    number = await api.register()
    status, body = await api.post("city", f"/cases/{number}/accept-dispatch", {"unit": "gulou-urban"})
    assert status == 409 and "不是市信访局直接交办的单位" in body["message"]
    _, case = await api.get("city", f"/cases/{number}")
    assert case["case"]["status"] == "registered"
    status, _ = await api.post("city", f"/cases/{number}/accept-dispatch", {"unit": "city-urban"})
    _, case = await api.get("city", f"/cases/{number}")
    assert (status, case["case"]["status"]) == (200, "dispatched")


CITY_CALLER = Caller(role="city_bureau", unit_code="city-bureau", unit_kind="city_bureau")
GULOU_CALLER = Caller(role="district_bureau", unit_code="gulou-bureau", unit_kind="district_bureau")


async def _offered(session: AsyncSession, ctx: Context, number: str, caller: Caller) -> bool:
    detail = await case_detail(session, number)
    assert detail is not None
    facts = await case_facts(session, detail, city_code="city-bureau", caller=caller)
    now = ctx.clock.now()
    return next(a for a in allowed_actions(caller, facts, now, clocks=ctx.clocks_at(now))
                if a.action == "accept_dispatch").ok


async def test_R4_3_only_the_city_bureau_is_offered_accept_and_dispatch_on_a_new_item(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    assert await _offered(session, ctx, case.number, CITY_CALLER) is True
    assert await _offered(session, ctx, case.number, GULOU_CALLER) is False
    await wf.accept(session, ctx, case.number, CITY)
    # Accepted already: the plain dispatch form is the one left.
    assert await _offered(session, ctx, case.number, CITY_CALLER) is False
