"""POST and GET through the whole app, on SQLite and PostgreSQL: what is refused, how, and
what a created request looks like in both formats (a schema check of every field)."""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import select

from contract.clock import FixedClock
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Case, Contact
from tests.channels.open311.conftest import FORM, Api, new_key

GOOD = {"service_code": "urban", "address_string": "鼓楼区五四路120号3单元502室",
        "description": "井盖缺失，夜间很危险。我叫张三，电话13805912345", "attribute[BLOCKING]": "yes",
        "phone": "13805912345", "email": "zhang@example.cn", "first_name": "三", "last_name": "张",
        "lat": "26.0745123", "long": "119.2965456"}
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
#: GET requests: each field, and what its value may be (None allowed where the spec allows).
REQUEST_FIELDS: dict[str, str] = {
    "service_request_id": "text", "status": "status", "status_notes": "text?",
    "service_name": "text", "service_code": "text", "description": "text?",
    "agency_responsible": "text?", "service_notice": "text?", "requested_datetime": "time",
    "updated_datetime": "time", "expected_datetime": "time?", "address": "text?",
    "address_id": "text?", "zipcode": "text?", "lat": "number?", "long": "number?",
    "media_url": "text?",
}


def check_json_request(row: dict[str, Any]) -> None:
    """One JSON request against ``REQUEST_FIELDS``: names, order, types."""
    assert list(row) == list(REQUEST_FIELDS)
    for name, kind in REQUEST_FIELDS.items():
        value = row[name]
        if kind.endswith("?") and value is None:
            continue
        kind = kind.rstrip("?")
        if kind == "time":
            assert isinstance(value, str) and W3C.match(value), (name, value)
        elif kind == "number":
            assert isinstance(value, float), (name, value)
        elif kind == "status":
            assert value in ("open", "closed")
        else:
            assert isinstance(value, str) and value, (name, value)


def check_xml_request(element: ET.Element) -> None:
    """One XML ``<request>`` against ``REQUEST_FIELDS``: elements, order, text shapes."""
    assert element.tag == "request" and [c.tag for c in element] == list(REQUEST_FIELDS)
    for child in element:
        kind, text = REQUEST_FIELDS[child.tag], child.text
        assert list(child) == []
        if kind.endswith("?") and text is None:
            continue
        assert text is not None, child.tag
        kind = kind.rstrip("?")
        if kind == "time":
            assert W3C.match(text), (child.tag, text)
        elif kind == "number":
            float(text)
        elif kind == "status":
            assert text in ("open", "closed")


async def test_a_created_request_reads_back_in_both_formats_with_no_personal_data(api: Api) -> None:
    status, body = await api.post(GOOD)
    assert status == 200 and set(body[0]) == {"service_request_id", "service_notice", "account_id"}
    number = body[0]["service_request_id"]
    status, rows = await api.get(f"requests/{number}")
    assert status == 200 and len(rows) == 1
    check_json_request(rows[0])
    assert rows[0] | {"requested_datetime": None, "updated_datetime": None} == rows[0] | {
        "service_request_id": number, "status": "open", "status_notes": None,
        "service_name": "城市管理", "service_code": "urban", "description": None,
        "agency_responsible": None, "requested_datetime": None, "updated_datetime": None,
        "expected_datetime": None, "address": "鼓楼区五四路**", "lat": 26.075, "long": 119.297}
    assert rows[0]["requested_datetime"] == "2026-11-24T10:00:00+08:00"
    status, root = await api.get(f"requests/{number}", "xml")
    assert status == 200 and root.tag == "service_requests" and len(root) == 1
    check_xml_request(root[0])
    status, raw = await api.get("requests")
    every = repr(raw) + ET.tostring(root, encoding="unicode")
    for private in ("张三", "13805912345", "zhang@example", "502", "26.0745", "fuzhou-app"):
        assert private not in every


async def test_R_idempotent_client_request_id_gives_the_same_case_once(api: Api) -> None:
    fields = GOOD | {"client_request_id": "app-42"}
    first = await api.post(fields)
    second = await api.post(fields, "xml")
    assert first[0] == second[0] == 200
    assert second[1].findtext("request/service_request_id") == first[1][0]["service_request_id"]
    engine = create_engine(api.settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = (await session.execute(select(Case.external_id, Case.channel))).all()
    finally:
        await engine.dispose()
    assert rows == [("fuzhou-app:app-42", "open311")]


async def test_reply_by_call_is_kept_on_the_phone_contact(api: Api) -> None:
    """答复方式 through the API (issue 14): ``reply_by=call`` makes the phone's notices calls."""
    assert (await api.post(GOOD | {"reply_by": "call"}))[0] == 200
    engine = create_engine(api.settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = dict((await session.execute(select(Contact.kind, Contact.prefers_call))).all())
    finally:
        await engine.dispose()
    assert rows == {"phone": True, "email": False}


REFUSALS: list[tuple[str, dict[str, str] | bytes, str, int, str]] = [
    # label, fields (or a raw body), format, status, words in the description
    ("no key", GOOD | {"api_key": ""}, "json", 403, "api_key was not provided"),
    ("wrong key", GOOD | {"api_key": "o311_nope"}, "xml", 403, "api_key is not valid"),
    ("no service code", {k: v for k, v in GOOD.items() if k != "service_code"}, "json", 400,
     "service_code was not provided"),
    ("unknown service code", GOOD | {"service_code": "sewers"}, "xml", 404, "not found"),
    ("no location", {k: v for k, v in GOOD.items()
                     if k not in ("lat", "long", "address_string")}, "json", 400, "location"),
    ("lat without long", GOOD | {"long": ""}, "json", 400, "together"),
    ("lat out of range", GOOD | {"lat": "91"}, "json", 400, "between"),
    ("lat not a number", GOOD | {"lat": "nan"}, "json", 400, "between"),
    ("required attribute missing", GOOD | {"attribute[BLOCKING]": ""}, "json", 400, "required"),
    ("value not offered", GOOD | {"attribute[BLOCKING]": "maybe"}, "json", 400, "not one of"),
    ("attribute not asked", GOOD | {"attribute[COLOUR]": "red"}, "json", 400, "not asked"),
    ("malformed attribute", GOOD | {"attribute[BLOCKING": "yes"}, "json", 400, "malformed"),
    ("bad datetime attribute", {k: v for k, v in GOOD.items() if k != "attribute[BLOCKING]"} | {
        "service_code": "environment", "attribute[KIND][]": "noise",
        "attribute[WHEN]": "yesterday night"}, "json", 400, "ISO 8601"),
    ("bad phone", GOOD | {"phone": "12"}, "json", 400, "phone"),
    ("bad email", GOOD | {"email": "not-an-email"}, "json", 400, "email"),
    ("description too long", GOOD | {"description": "a" * 4001}, "json", 400, "4000"),
    ("oversized body", GOOD | {"description": "x" * 20_000}, "json", 413, "larger than"),
    ("bad UTF-8", b"api_key=KEY&service_code=urban&address_string=%ff%fe", "json", 400, "UTF-8"),
    ("bad client id", GOOD | {"client_request_id": "有空格 的"}, "json", 400, "client_request_id"),
    ("other jurisdiction", GOOD | {"jurisdiction_id": "sf.gov"}, "json", 404, "jurisdiction"),
    ("media not http", GOOD | {"media_url": "file:///etc/passwd"}, "json", 400, "media_url"),
    ("unknown reply_by", GOOD | {"reply_by": "fax"}, "json", 400, "reply_by is sms or call"),
    ("call without a phone", {k: v for k, v in GOOD.items() if k != "phone"} | {
        "email": "a@example.cn", "reply_by": "call"}, "json", 400, "needs a phone"),
]


@pytest.mark.parametrize(("label", "fields", "fmt", "status", "words"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
async def test_a_bad_post_is_refused_in_the_error_format_and_stores_nothing(
        api: Api, label: str, fields: dict[str, str] | bytes, fmt: str, status: int,
        words: str) -> None:
    if isinstance(fields, bytes):
        response = await api.http.post(f"/open311/v2/requests.{fmt}",
                                       data=fields.replace(b"KEY", api.key.encode()), headers=FORM)
        got, body = response.status, await response.read()
    else:
        pairs = [(k, v) for k, v in fields.items() if k != "api_key"]
        key = fields.get("api_key")
        got, parsed = await api.post(pairs, fmt, key=key)
        body = repr(parsed).encode() if fmt == "json" else ET.tostring(parsed)
    if api.settings.channel("open311", type(api.settings.channel_sections["open311"])
                            ).jurisdiction_id == "" and label == "other jurisdiction":
        assert got == 200  # no jurisdiction configured: any is accepted
        return
    assert got == status, body[:300]
    if fmt == "json":
        assert words in body.decode()
    else:
        root = ET.fromstring(body)
        assert root.tag == "errors" and root.findtext("error/code") == str(status)
        assert words in (root.findtext("error/description") or "")
    assert await api.get("requests") == (200, [])


async def test_not_form_encoded_is_415_and_unknown_format_404(api: Api) -> None:
    response = await api.http.post("/open311/v2/requests.json", json={"service_code": "urban"})
    assert response.status == 415
    assert (await response.json())[0]["code"] == 415
    response = await api.http.get("/open311/v2/services.csv")
    assert response.status == 404 and response.content_type == "text/xml"


async def test_a_revoked_or_other_clients_key(api: Api, clock: FixedClock) -> None:
    other = await new_key(api.settings, "partner-b", clock)
    assert (await api.post(GOOD, key=other))[0] == 200
    from registrar.open311_clients import revoke_client

    engine = create_engine(api.settings.database_url)
    try:
        async with make_sessionmaker(engine).begin() as session:
            await revoke_client(session, "partner-b", now=clock.now())
    finally:
        await engine.dispose()
    status, body = await api.post(GOOD, key=other)
    assert (status, body[0]["code"]) == (403, 403)


GET_REFUSALS = [
    ("requests", {"start_date": "2026-13-01T00:00:00+08:00"}, 400, "start_date"),
    ("requests", {"end_date": "2026-11-01T00:00:00"}, 400, "time zone"),
    ("requests", {"start_date": "2026-11-20T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"},
     400, "after"),
    ("requests", {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"},
     400, "90 days"),
    ("requests", {"status": "pending"}, 400, "open or closed"),
    ("requests", {"service_code": "sewers"}, 404, "sewers"),
    ("requests/FZ12345-20261124-999999", {}, 404, "not found"),
    ("services/sewers", {}, 404, "not found"),
    ("tokens/bm90LW91cnM.0123456789abcdef0123456789abcdef", {}, 404, "token"),
    ("servicerequestupdates", {"start_date": "soon"}, 400, "start_date"),
]


@pytest.mark.parametrize(("path", "query", "status", "words"), GET_REFUSALS,
                         ids=[f"{p}{sorted(q)}" for p, q, _, _ in GET_REFUSALS])
async def test_a_bad_get_is_refused_in_both_formats(api: Api, path: str, query: dict[str, str],
                                                     status: int, words: str) -> None:
    got, body = await api.get(path, "json", **query)
    assert got == status and body[0]["code"] == status and words in body[0]["description"]
    got, root = await api.get(path, "xml", **query)
    assert got == status and root.findtext("error/code") == str(status)


async def test_posts_past_the_rate_are_429_with_retry_after(db_url: str, tmp_path: Any,
                                                            clock: FixedClock) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from intake.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(db_url, tmp_path / "data", open311={"rate_free": 2})
    key = await new_key(settings, "busy-app", clock)
    async with TestClient(TestServer(create_app(settings, clock=clock))) as http:
        limited = Api(http, key, settings)
        statuses = [(await limited.post(GOOD))[0] for _ in range(3)]
        response = await http.post("/open311/v2/requests.json", headers=FORM,
                                   data=f"api_key={key}&service_code=urban".encode())
    assert statuses == [200, 200, 429]
    assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
