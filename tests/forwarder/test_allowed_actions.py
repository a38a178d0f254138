"""``forwarder.allowed``: the desk shows exactly what it allows, and it says why not.

The permission matrix (``test_api_permissions.py``) checks the same function
against the API's own answers; here every demo role meets a case at every
stage, and the case page's action forms must be exactly the allowed actions.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from contract.clock import FixedClock
from tests.forwarder.api_kit import STAGES, USERS, make_api
from tests.forwarder.test_desk_cases import Desk, forms

Client = TestClient[Any, Any]


def endpoint(entry: dict[str, Any]) -> str:
    """The API path an allowed action's desk form posts to."""
    kind = "cases" if isinstance(entry["target"], str) else "assignments"
    return f"/api/{kind}/{entry['target']}/{entry['action'].replace('_', '-')}"


@pytest.fixture
async def desk(client: Client, tmp_path: Path) -> Desk:
    return Desk(await make_api(client, tmp_path))


async def cases_at_every_stage(desk: Desk) -> dict[str, str]:
    """label → case number: each stage for a city unit and a district unit, an internal
    answer, and an item waiting in a district bureau's queue."""
    api, made = desk.api, {}
    for unit in ("city-urban", "gulou-urban"):
        for stage in STAGES:
            made[f"{stage} {unit}"] = (await api.case_at(stage, unit=unit))[0]
    made["answered internal"] = (await api.case_at("answered", internal_reason="R6.3"))[0]
    queued, _ = await api.case_at("accepted")
    status, _ = await api.post("city", f"/cases/{queued}/dispatch", {"unit": "gulou-bureau"})
    assert status == 200
    made["queued gulou-bureau"] = queued
    for unit in ("city-urban", "gulou-urban"):  # R12: a dissatisfied call-back waits
        made[f"dissatisfied {unit}"] = (await api.case_at("dissatisfied", unit=unit))[0]
    return made


async def test_desk_offers_exactly_the_allowed_actions_for_every_role_and_state(desk: Desk) -> None:
    cases = await cases_at_every_stage(desk)
    mismatches, offered = [], 0
    for user in USERS:
        for label, number in cases.items():
            status, page = await desk.get(user, f"/desk/cases/{number}")
            listed_status, listing = await desk.api.get(user, f"/cases/{number}/actions")
            assert status == listed_status, (user, label)
            if status == 404:
                continue
            allowed = {endpoint(e) for e in listing["actions"] if e["ok"]}
            offered += len(allowed)
            if forms(page) != allowed:
                mismatches.append(f"{user} on {label}: page {sorted(forms(page))}, "
                                  f"allowed {sorted(allowed)}")
    assert mismatches == []
    assert offered > 40  # the comparison is not between two empty sets


async def test_every_refusal_names_its_reason_and_how(desk: Desk) -> None:
    number, aid = await desk.api.case_at("drafted")
    _, listing = await desk.api.get("urban", f"/cases/{number}/actions")
    by_key = {(e["action"], e["target"]): e for e in listing["actions"]}
    assert all(e["reason"] and e["code"] in ("forbidden", "illegal")
               for e in listing["actions"] if not e["ok"])
    assert by_key[("approve", aid)] == {
        "action": "approve", "target": aid, "ok": False, "code": "forbidden", "choices": [],
        "reason": "承办单位经办人账号不能审批答复"}
    assert by_key[("read", aid)]["code"] == "illegal" and "已起草待审批" in by_key[("read", aid)]["reason"]
    assert by_key[("draft", aid)]["ok"] is True
    assert by_key[("accept", number)]["code"] == "forbidden"


async def test_R8_3a_return_window_closed_is_the_reason_given(desk: Desk, clock: FixedClock) -> None:
    number, aid = await desk.api.case_at("dispatched")
    clock.advance(timedelta(days=7))
    _, listing = await desk.api.get("urban", f"/cases/{number}/actions")
    entry = next(e for e in listing["actions"] if (e["action"], e["target"]) == ("return", aid))
    assert entry["ok"] is False and entry["reason"].startswith("R8.3a: 申请退回的期限已于")
    status, answer = await desk.api.post("urban", f"/assignments/{aid}/return",
                                         {"reason": "非本单位职责", "proposed_unit": "city-housing"})
    assert status == 409 and answer["message"] == entry["reason"]


async def test_R8_5b_stop_refused_with_the_count_until_more_than_three_answers(desk: Desk) -> None:
    number = await desk.api.register()
    _, listing = await desk.api.get("city", f"/cases/{number}/actions")
    stop = next(e for e in listing["actions"] if e["action"] == "stop")
    assert stop["ok"] is False and stop["reason"].startswith("R8.5b: 同一诉求已答复 0 次")


async def test_R9_publication_choices_follow_the_classification(desk: Desk) -> None:
    public, _ = await desk.api.case_at("answered")
    internal, _ = await desk.api.case_at("answered", internal_reason="R6.3")
    for number, choices in ((public, ["publish"]), (internal, ["original_only"])):
        _, listing = await desk.api.get("city", f"/cases/{number}/actions")
        entry = next(e for e in listing["actions"] if e["action"] == "publication")
        assert entry["ok"] is True and entry["choices"] == choices
