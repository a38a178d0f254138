"""POST requests: an Open311 form → an ``Envelope``, or the 400/404 that says what is wrong.

Pure: bytes and settings in, an envelope out; the handler around it only
checks the key and calls the sink. The form is GeoReport v2's
(``application/x-www-form-urlencoded``, UTF-8): ``service_code``, a location
(``lat`` and ``long``, ``address_string`` or ``address_id``),
``attribute[CODE]`` / ``attribute[CODE][]``, ``description`` (at most 4,000
characters), ``email``, ``phone``, ``first_name``, ``last_name``,
``media_url``, ``device_id``, ``account_id``; and two fields of ours:
``client_request_id``: a client that sends it may repeat the POST safely
(the same case comes back); ``reply_by`` (``sms`` or ``call``, 答复方式): a
``phone`` whose citizen wants answers read in a call (a landline is called
anyway; absent: the contact keeps its earlier choice, SMS for a new one).
https://wiki.open311.org/GeoReport_v2#POST_Service_Request
"""

from __future__ import annotations

import math
import re
import unicodedata
import uuid
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import parse_qsl

from multidict import MultiDict

from channels.open311.settings import Open311Settings, Service, ServiceAttribute
from channels.open311.wire import Open311Error
from contract.envelope import Channel, Envelope
from contract.normalise import InvalidInput, clean_text, normalise_phone
from contract.public_cases import CATEGORY_NOTE, GEO_NOTE

MAX_FIELDS = 200
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
CLIENT_ID = re.compile(r"^[\x21-\x7e]{1,100}$")
ATTRIBUTE = re.compile(r"^attribute\[([^\]]{1,64})\](\[\])?$")
FIELD_LIMITS = {"address_string": 500, "address_id": 100, "first_name": 50, "last_name": 50,
                "device_id": 200, "account_id": 200, "media_url": 2000, "email": 320, "phone": 40,
                "reply_by": 10}


def bad(description: str) -> Open311Error:
    return Open311Error(400, description)


def parse_form_body(body: bytes) -> MultiDict[str]:
    """The form's fields; 400 for anything but well-formed UTF-8 form encoding."""
    try:
        text = body.decode("utf-8")  # percent-encoded ASCII, or (leniently) raw UTF-8
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, encoding="utf-8",
                          errors="strict", max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad(f"the form is not UTF-8 application/x-www-form-urlencoded: {exc}") from exc
    return MultiDict(pairs)


def _one(form: MultiDict[str], name: str) -> str:
    values = form.getall(name, [])
    if len(values) > 1:
        raise bad(f"{name} given more than once")
    value = values[0] if values else ""
    limit = FIELD_LIMITS.get(name)
    if limit is not None and len(value) > limit:
        raise bad(f"{name} is longer than {limit} characters")
    try:
        return clean_text(value, field=name, max_chars=limit or 10_000, required=False)
    except InvalidInput as exc:
        raise bad(exc.message) from exc


def service_of(form: MultiDict[str], settings: Open311Settings) -> Service:
    """The service asked for: 400 when none is named, 404 when it is not ours."""
    code = _one(form, "service_code")
    if not code:
        raise bad("service_code was not provided")
    service = settings.service(code)
    if service is None:
        raise Open311Error(404, f"service_code {code!r} was not found")
    return service


def _coordinate(raw: str, name: str, bound: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise bad(f"{name} is not a number") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise bad(f"{name} must be between -{bound:g} and {bound:g}")
    return value


def _attribute_answers(form: MultiDict[str]) -> dict[str, list[str]]:
    answers: dict[str, list[str]] = {}
    for name, value in form.items():
        match = ATTRIBUTE.match(name)
        if match:
            answers.setdefault(match.group(1), []).append(value.strip())
        elif name.startswith("attribute"):
            raise bad(f"malformed attribute field {name[:80]!r}")
    return answers


def _answer_line(attribute: ServiceAttribute, values: Sequence[str]) -> str:
    """One attribute's answer as a line of the item's text (list keys by their names)."""
    names = {v.key: v.name for v in attribute.values}
    if attribute.datatype.endswith("valuelist"):
        unknown = [v for v in values if v not in names]
        if unknown:
            raise bad(f"attribute {attribute.code}: {unknown[0][:40]!r} is not one of its values")
        if attribute.datatype == "singlevaluelist" and len(values) > 1:
            raise bad(f"attribute {attribute.code} takes one value")
        shown = "、".join(names[v] for v in values)
    else:
        if len(values) > 1:
            raise bad(f"attribute {attribute.code} takes one value")
        shown = values[0]
        if attribute.datatype == "number":
            _coordinate(shown, f"attribute {attribute.code}", math.inf)
        elif attribute.datatype == "datetime":
            try:
                datetime.fromisoformat(shown)
            except ValueError:
                raise bad(f"attribute {attribute.code} is not an ISO 8601 date and time") from None
        elif attribute.datatype == "string" and "\n" in shown:
            raise bad(f"attribute {attribute.code} is one line")
        if len(shown) > 1000:
            raise bad(f"attribute {attribute.code} is longer than 1000 characters")
    return f"{attribute.description}：{shown}"


def attribute_lines(form: MultiDict[str], service: Service) -> list[str]:
    """The answers to the service's questions, in order; 400 for a missing required one,
    a value not offered, or a code the service does not ask."""
    answers = {code: [v for v in values if v] for code, values in _attribute_answers(form).items()}
    known = {a.code for a in service.attributes}
    strangers = sorted(set(answers) - known)
    if strangers:
        raise bad(f"attribute {strangers[0]!r} is not asked by service {service.code}")
    lines = []
    for attribute in sorted(service.attributes, key=lambda a: a.order):
        values = answers.get(attribute.code, [])
        if not values:
            if attribute.required:
                raise bad(f"attribute {attribute.code} is required by service {service.code}")
            continue
        lines.append(_answer_line(attribute, values))
    return lines


def external_id(client: str, form: MultiDict[str]) -> str:
    """The item's identity: the client's own id when it sent one (a retry is the same case)."""
    given = _one(form, "client_request_id")
    if given and not CLIENT_ID.match(given):
        raise bad("client_request_id is 1-100 printable ASCII characters")
    return f"{client}:{given or uuid.uuid4()}"


def envelope_from_form(form: MultiDict[str], *, settings: Open311Settings, client: str,
                       received_at: datetime, districts: Sequence[str] = ()) -> Envelope:
    """Validate a POST service request and build its envelope (400 / 404 on the first fault)."""
    jurisdiction = _one(form, "jurisdiction_id")
    if settings.jurisdiction_id and jurisdiction and jurisdiction != settings.jurisdiction_id:
        raise Open311Error(404, f"jurisdiction_id {jurisdiction[:60]!r} was not found")
    service = service_of(form, settings)
    lat, long = _one(form, "lat"), _one(form, "long")
    address, address_id = _one(form, "address_string"), _one(form, "address_id")
    if bool(lat) != bool(long):
        raise bad("lat and long must be sent together")
    if not (lat or address or address_id):
        raise bad("a location is required: lat and long, address_string or address_id")
    notes = [CATEGORY_NOTE + service.category, f"open311_service={service.code}",
             f"open311_client={client}"]
    if lat:
        notes.append(f"{GEO_NOTE}{_coordinate(lat, 'lat', 90)},{_coordinate(long, 'long', 180)}")
    if address_id:
        notes.append(f"address_id={address_id}")
    description = _one(form, "description")
    if len(description) > settings.max_description_chars:
        raise bad(f"description is longer than {settings.max_description_chars} characters")
    lines = attribute_lines(form, service)
    text = "\n".join(filter(None, (description, *lines))) or service.name
    email = unicodedata.normalize("NFKC", _one(form, "email"))
    if email and not EMAIL.match(email):
        raise bad("email is not an email address")
    phone = None
    if raw_phone := _one(form, "phone"):
        try:
            phone = normalise_phone(raw_phone)
        except InvalidInput as exc:
            raise bad(f"phone: {exc.message}") from exc
    reply_by = _one(form, "reply_by")
    if reply_by not in ("", "sms", "call"):
        raise bad("reply_by is sms or call")
    if reply_by == "call" and phone is None:
        raise bad("reply_by=call needs a phone")
    media = _one(form, "media_url")
    if media:
        if not media.startswith(("https://", "http://")):
            raise bad("media_url must be an http(s) URL")
        notes.append(f"media_url={media}")  # kept for an agent to open; never fetched by us
    first, last = _one(form, "first_name"), _one(form, "last_name")
    # 张 + 三 is 张三; John + Smith is "John Smith".
    name = (f"{first} {last}" if (first + last).isascii() else last + first).strip() or None
    where = address or None
    district = next((d for d in districts if where and (d in where or d[:-1] in where)), None)
    return Envelope(
        channel=Channel.OPEN311, external_id=external_id(client, form), received_at=received_at,
        text=text, sender=phone or email or None, reply_address=phone or email or None,
        alt_reply_addresses=(email,) if phone and email else (), display_name=name,
        reply_by_call=reply_by == "call" if phone and reply_by else None,
        location_hint=where, district_hint=district, notes=tuple(notes),
        receipt_in_reply=True)
