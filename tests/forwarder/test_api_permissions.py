"""Every demo role × every endpoint: allowed (2xx, or 409 where the rule itself refuses),
denied (403) or not even visible (404), as one table.

A change in who may do or see what shows as a failing row naming the endpoint
and the account. Before every POST the API's action list (``forwarder.allowed``)
is asked too, and must predict the answer: the one function that says what is
allowed agrees with what the workflow does. Visibility follows DESIGN.md invariant 6; the roles follow
the regulation's division of work (R4.1, R7.2, R7.3, R8.1–R8.8, R9).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from desks.access.accounts import DEMO_ACCOUNTS
from forwarder.guards import role_refusal
from tests.forwarder.api_kit import USERS, Api, make_api

ROLES = {user: role for user, _name, role, _unit in DEMO_ACCOUNTS}
COLUMNS = ("agent", "city", "gulou", "taijiang", "urban", "urban-leader", "gulou-urban",
           "gulou-urban-leader", "discipline", "efficiency", "admin")

#: endpoint → (stage of a fresh case, handling unit, method, path, JSON body).
ROWS: dict[str, tuple[str, str, str, str, dict[str, Any] | None]] = {
    "GET case": ("dispatched", "city-urban", "GET", "/cases/{number}", None),
    "GET cases": ("registered", "city-urban", "GET", "/cases", None),
    "GET repeats": ("registered", "city-urban", "GET", "/cases/{number}/repeats", None),
    "GET units": ("registered", "city-urban", "GET", "/units", None),
    "not-accept": ("registered", "city-urban", "POST", "/cases/{number}/not-accept", {"reason": "R3.5"}),
    "accept": ("registered", "city-urban", "POST", "/cases/{number}/accept", {}),
    "dispatch": ("accepted", "city-urban", "POST", "/cases/{number}/dispatch", {"unit": "city-urban"}),
    "split": ("accepted", "city-urban", "POST", "/cases/{number}/split", {"parts": ["路灯", "垃圾"]}),
    "escalate": ("dispatched", "city-urban", "POST", "/cases/{number}/escalate", {"reason": "难"}),
    "stop": ("registered", "city-urban", "POST", "/cases/{number}/stop", {}),
    "publication": ("answered", "city-urban", "POST", "/cases/{number}/publication", {"publish": True}),
    "read": ("dispatched", "city-urban", "POST", "/assignments/{aid}/read", {}),
    "draft": ("read", "city-urban", "POST", "/assignments/{aid}/draft", {"text": "已处理"}),
    "approve": ("drafted", "city-urban", "POST", "/assignments/{aid}/approve", {}),
    "submit": ("approved", "city-urban", "POST", "/assignments/{aid}/submit", {}),
    "return": ("dispatched", "city-urban", "POST", "/assignments/{aid}/return",
               {"reason": "非本单位职责", "proposed_unit": "city-housing"}),
    "return-decision": ("return_requested", "city-urban", "POST", "/assignments/{aid}/return-decision",
                        {"accept": False}),
    "review": ("submitted", "city-urban", "POST", "/assignments/{aid}/review", {"passed": True}),
    "callback-follow-up": ("dissatisfied", "city-urban", "POST", "/cases/{number}/callback-follow-up",
                           {"outcome": "review"}),
    "GET case (district)": ("dispatched", "gulou-urban", "GET", "/cases/{number}", None),
    "read (district)": ("dispatched", "gulou-urban", "POST", "/assignments/{aid}/read", {}),
    "review (district)": ("submitted", "gulou-urban", "POST", "/assignments/{aid}/review",
                          {"passed": True}),
    "publication (district)": ("answered", "gulou-urban", "POST", "/cases/{number}/publication",
                               {"publish": True}),
    # The efficiency office's findings (R11.2b, R11.1, issue 15.3): "charge" is a fresh R11.2b
    # finding against the unit.
    "GET findings": ("charge", "city-urban", "GET", "/findings", None),
    "decide finding": ("charge", "city-urban", "POST", "/findings/{fid}/decide",
                       {"decision": "confirm", "reason": "经办人未及时处理"}),
    "contest finding": ("charge", "city-urban", "POST", "/findings/{fid}/contest",
                        {"reason": "当日系统停机"}),
    "contest finding (district)": ("charge", "gulou-urban", "POST", "/findings/{fid}/contest",
                                   {"reason": "当日系统停机"}),
    "hand notice": ("registered", "city-urban", "POST", "/findings/notice",
                    {"unit": "city-urban", "reason": "推诿群众诉求"}),
}

# stop: the city bureau may ask, and the rule answers 409 (R8.5b: no four answers yet).
# review (district): R8.4a, the district bureau reviews its units; the city bureau's unit
# check refuses (403). efficiency sees all but acts only on its own items (403).
#                         agent city gulou taij urban u-ldr g-urb g-ldr disc effic admin
MATRIX: dict[str, tuple[int, ...]] = {
    "GET case":             (200, 200, 404, 404, 200, 200, 404, 404, 404, 200, 200),
    "GET cases":            (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "GET repeats":          (200, 200, 404, 404, 403, 403, 403, 403, 403, 200, 200),
    "GET units":            (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "not-accept":           (403, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403),
    "accept":               (403, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403),
    "dispatch":             (403, 200, 404, 404, 403, 403, 403, 403, 403, 403, 403),
    "split":                (403, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403),
    "escalate":             (403, 200, 404, 404, 403, 403, 403, 403, 403, 403, 403),
    "stop":                 (403, 409, 403, 403, 403, 403, 403, 403, 403, 403, 403),
    "publication":          (403, 200, 404, 404, 403, 403, 403, 403, 403, 403, 403),
    "read":                 (403, 403, 403, 403, 200, 200, 404, 404, 404, 403, 403),
    "draft":                (403, 403, 403, 403, 200, 200, 404, 404, 404, 403, 403),
    "approve":              (403, 403, 403, 403, 403, 200, 403, 404, 403, 403, 403),
    "submit":               (403, 403, 403, 403, 200, 200, 404, 404, 404, 403, 403),
    "return":               (403, 403, 404, 404, 200, 200, 404, 404, 404, 403, 403),
    "return-decision":      (403, 200, 404, 404, 403, 403, 403, 403, 403, 403, 403),
    "review":               (403, 200, 404, 404, 403, 403, 403, 403, 403, 403, 403),
    "callback-follow-up":   (403, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403),
    "GET case (district)":  (200, 200, 200, 404, 404, 404, 200, 200, 404, 200, 200),
    "read (district)":      (403, 403, 403, 403, 404, 404, 200, 200, 404, 403, 403),
    "review (district)":    (403, 403, 200, 404, 403, 403, 403, 403, 403, 403, 403),
    "publication (district)": (403, 200, 200, 404, 403, 403, 403, 403, 403, 403, 403),
    "GET findings":         (403, 200, 403, 403, 200, 200, 200, 200, 403, 200, 200),
    "decide finding":       (403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 403),
    "contest finding":      (403, 403, 403, 403, 200, 200, 404, 404, 403, 403, 403),
    "contest finding (district)": (403, 403, 403, 403, 404, 404, 200, 200, 403, 403, 403),
    "hand notice":          (403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 403),
}


def test_matrix_covers_every_demo_account_and_row() -> None:
    assert set(COLUMNS) == set(USERS)
    assert set(MATRIX) == set(ROWS)
    assert all(len(codes) == len(COLUMNS) for codes in MATRIX.values())


@pytest.fixture
async def api(client: TestClient[Any, Any], tmp_path: Path) -> Api:
    return await make_api(client, tmp_path / "files")


async def predict(api: Api, user: str, endpoint: str, number: str, aid: int) -> int:
    """The status ``forwarder.allowed`` predicts for the POST, read from the API's action
    list: 200 when ok, else 403 or 409 by the refusal's code. A hidden case has no list:
    then the role table alone says 403, before the API finds the case missing (404)."""
    action = endpoint.split(" ")[0].replace("-", "_")
    status, listing = await api.get(user, f"/cases/{number}/actions")
    if status == 404:
        return 403 if role_refusal(ROLES[user], action) else 404
    target: str | int = number if ROWS[endpoint][3].startswith("/cases/") else aid
    entry = next(e for e in listing["actions"] if (e["action"], e["target"]) == (action, target))
    return 200 if entry["ok"] else {"forbidden": 403, "illegal": 409}[entry["code"]]


@pytest.mark.parametrize("endpoint", list(ROWS))
async def test_invariant6_role_by_endpoint_matrix(api: Api, endpoint: str) -> None:
    stage, unit, method, template, body = ROWS[endpoint]

    async def target() -> tuple[str, int, int]:
        if stage == "charge":
            return "", 0, await api.charge(unit)
        return *await api.case_at(stage, unit=unit), 0
    shared = await target() if method == "GET" else None
    surprises = []
    for user, expected in zip(COLUMNS, MATRIX[endpoint], strict=True):
        # A POST that is allowed changes the case: each account gets a case of its own.
        number, aid, fid = shared or await target()
        path = template.format(number=number, aid=aid, fid=fid)
        if method == "GET":
            status, answer = await api.get(user, path)
        elif template.startswith("/findings"):  # not case actions: no action list to ask
            status, answer = await api.post(user, path, body)
        else:
            predicted = await predict(api, user, endpoint, number, aid)
            status, answer = await api.post(user, path, body)
            if predicted != status:
                surprises.append(f"{endpoint} as {user}: the action list predicted {predicted}, "
                                 f"the API answered {status} {answer}")
        if status != expected:
            surprises.append(f"{endpoint} as {user}: expected {expected}, got {status} {answer}")
        elif status >= 400:
            assert set(answer) == {"error", "message"}, answer
    assert surprises == []
