"""The specification's own examples (``fixtures/spec_*``), written by our code in both formats.

Each example's values are fed through the same functions the endpoints use
(``views`` then ``wire``) and the result is compared with the example: JSON
as data (key order is not significant in JSON), XML element by element, in
order, whitespace around text ignored (the examples are indented). Where we
differ from an example on purpose, the test says so: list keys are strings
(the XML has no types; the JSON example's ``123`` is a number), and fields we
never have (``address_id``, ``zipcode``, ``media_url``) are empty.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
from multidict import MultiDict

from channels.open311 import views
from channels.open311.inbound import envelope_from_form, parse_form_body
from channels.open311.settings import AttributeValue, Open311Settings, Service, ServiceAttribute
from channels.open311.wire import Open311Error, to_json, to_xml
from contract.envelope import Channel
from contract.public_cases import PublicCase
from tests.channels.open311.conftest import fixture

PACIFIC = ZoneInfo("Etc/GMT+8")  # the examples' fixed -08:00
NOTICE = ("The City will inspect and require the responsible party to correct within 24 hours "
          "and/or issue a Correction Notice or Notice of Violation of the Public Works Code")
_ANY = AttributeValue(key="x", name="x")


def shape(element: ET.Element) -> tuple[str, str | None, list[Any]]:
    """An element as (tag, stripped text or None, children), for order-sensitive comparison."""
    text = (element.text or "").strip() or None
    return element.tag, text, [shape(child) for child in element]


def same_xml(ours: bytes, example: bytes) -> None:
    assert ours.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert shape(ET.fromstring(ours)) == shape(ET.fromstring(example))


def spec_settings() -> Open311Settings:
    attribute = ServiceAttribute(code="WHAT", datatype="singlevaluelist", values=(_ANY,),
                                 description="x")  # metadata true, as in the example
    return Open311Settings(services=(
        Service(code="001", name="Cans left out 24x7", category="sanitation",
                description="Garbage or recycling cans that have been left out for more than 24 "
                            "hours after collection. Violators will be cited.",
                group="sanitation", keywords=("lorem", "ipsum", "dolor"), attributes=(attribute,)),
        Service(code="002", name="Construction plate shifted", category="street",
                description="Metal construction plate covering the street or sidewalk has been "
                            "moved.",
                group="street", keywords=("lorem", "ipsum", "dolor"), attributes=(attribute,)),
    ))


def test_services_list_is_the_specifications_example_in_both_formats() -> None:
    value = views.service_list(spec_settings())
    assert json.loads(to_json(value, PACIFIC)) == json.loads(fixture("spec_services.json"))
    same_xml(to_xml("services", value, PACIFIC), fixture("spec_services.xml"))


def test_service_definition_is_the_specifications_DMV66_example() -> None:
    service = Service(code="DMV66", name="DMV", category="dmv", attributes=(ServiceAttribute(
        code="WHISHETN", datatype="singlevaluelist", required=True, order=1,
        description="What is the ticket/tag/DL number?",
        values=(AttributeValue(key="123", name="Ford"), AttributeValue(key="124", name="Chrysler")),
    ),))
    value = views.definition(service)
    example = json.loads(fixture("spec_service_definition_DMV66.json"))
    for attribute in example["attributes"]:
        for choice in attribute["values"]:
            choice["key"] = str(choice["key"])  # our keys are strings, always
    assert json.loads(to_json(value, PACIFIC)) == example
    same_xml(to_xml("service_definition", value, PACIFIC),
             fixture("spec_service_definition_DMV66.xml"))


def test_post_response_is_the_specifications_example() -> None:
    value = [{"service_request_id": "293944", "service_notice": NOTICE, "account_id": None}]
    example = json.loads(fixture("spec_post_response.json"))
    example[0]["service_request_id"] = str(example[0]["service_request_id"])  # our ids are text
    assert json.loads(to_json(value, PACIFIC)) == example
    same_xml(to_xml("service_requests", value, PACIFIC), fixture("spec_post_response.xml"))


def test_token_answer_is_the_specifications_example() -> None:
    value = [{"service_request_id": "638344", "token": "12345"}]
    assert json.loads(to_json(value, PACIFIC)) == [
        {k: str(v) for k, v in row.items()} for row in json.loads(fixture("spec_token.json"))]
    same_xml(to_xml("service_requests", value, PACIFIC), fixture("spec_token.xml"))


def test_error_is_the_specifications_format() -> None:
    value = [{"code": 403,
              "description": "Invalid api_key received -- can't proceed with create_request."}]
    assert json.loads(to_json(value, PACIFIC)) == json.loads(fixture("spec_error_403.json"))
    same_xml(to_xml("errors", value, PACIFIC), fixture("spec_error_403.xml"))


def test_a_request_has_the_examples_fields_in_the_examples_order_and_times() -> None:
    settings = Open311Settings(services=(Service(
        code="006", name="Sidewalk and Curb Issues", category="sidewalk", notice=""),))
    case = PublicCase(
        number="638344", closed=True, category="sidewalk",
        requested_at=datetime(2010, 4, 14, 6, 37, 38, tzinfo=PACIFIC),
        updated_at=datetime(2010, 4, 14, 6, 37, 38, tzinfo=PACIFIC),
        expected_at=datetime(2010, 4, 15, 6, 37, 38, tzinfo=PACIFIC),
        answer="Duplicate request.", address="8TH AVE and JUDAH ST",
        position=(37.762221815, -122.4651145))
    value = [views.request_view(case, settings)]
    value[0]["service_notice"] = None  # the example's service has none
    ours = json.loads(to_json(value, PACIFIC))
    example = json.loads(fixture("spec_requests.json"))
    assert list(ours[0]) == list(example[0])  # every field, in the example's order
    never_ours = {"address_id", "zipcode", "media_url"}
    example[0]["service_request_id"] = str(example[0]["service_request_id"])
    assert {k: v for k, v in ours[0].items() if k not in never_ours} == {
        k: v for k, v in example[0].items() if k not in never_ours}
    assert all(ours[0][k] is None for k in never_ours)
    xml_example = ET.fromstring(fixture("spec_requests.xml"))
    for name in never_ours:
        element = xml_example.find(f"request/{name}")
        assert element is not None
        element.text = None
    assert shape(ET.fromstring(to_xml("service_requests", value, PACIFIC))) == shape(xml_example)


def test_updates_are_fixmystreets_servicerequestupdates_format() -> None:
    from contract.public_cases import PublicUpdate

    update = PublicUpdate(update_id="638344", case_number="1", closed=False,
                          at=datetime(2011, 4, 11, 13, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
                          description="This is a note")
    same_xml(to_xml("service_requests_updates", [views.update_view(update)],
                    ZoneInfo("Asia/Shanghai")), fixture("fms_servicerequestupdates.xml"))


def _example_settings() -> Open311Settings:
    return Open311Settings(jurisdiction_id="city.gov", services=(Service(
        code="001", name="Cans left out 24x7", category="sanitation", attributes=(
            ServiceAttribute(code="WHISPAWN", description="Permit number"),
            ServiceAttribute(code="WHISDORN", description="Door code", order=2))),))


def test_the_specifications_post_example_is_refused_for_its_us_phone_number() -> None:
    form = parse_form_body(fixture("spec_post_request.urlencoded"))
    with pytest.raises(Open311Error) as refused:
        envelope_from_form(form, settings=_example_settings(), client="c",
                           received_at=datetime(2026, 12, 2, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    assert (refused.value.status, refused.value.description[:6]) == (400, "phone:")


def test_the_specifications_post_example_becomes_an_envelope() -> None:
    body = fixture("spec_post_request.urlencoded").replace(b"phone=111111111",
                                                          b"phone=0591-87654321")
    form: MultiDict[str] = parse_form_body(body)
    at = datetime(2026, 12, 2, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    envelope = envelope_from_form(form, settings=_example_settings(), client="sf-app",
                                  received_at=at)
    assert envelope.channel is Channel.OPEN311 and envelope.external_id.startswith("sf-app:")
    assert envelope.text == ("A large sinkhole is destroying the street\n"
                             "Permit number：123456\nDoor code：COISL001")
    assert (envelope.reply_address, envelope.alt_reply_addresses) == (
        "+8659187654321", ("smit333@sfgov.edu",))
    assert envelope.display_name == "john smith" and envelope.location_hint == "1234 5th street"
    assert envelope.notes == (
        "category=sanitation", "open311_service=001", "open311_client=sf-app",
        "geo=37.76524078,-122.4212043",
        "media_url=http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg")
    assert envelope.receipt_in_reply and envelope.received_at == at
