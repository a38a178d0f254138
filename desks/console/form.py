"""The agent's call form as a pure function: posted fields in, an ``Envelope`` (or every error) out.

An agent types what the caller says; the envelope is a phone item like any
other channel's, so the registrar, screening and workflow treat it the same
(R5.1: one record per item). The form carries a per-form UUID as the
envelope's external id: submitting the same form twice (a double press, a
reload) returns the first case instead of making a second one.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping
from datetime import datetime

from contract.envelope import Channel, Envelope
from contract.normalise import EMAIL, InvalidInput, clean_text, normalise_phone
from registrar.transcription import CallFields

CATEGORIES = ("城管", "住建", "交通", "环保", "市场监管", "人社", "卫健", "教育", "公安", "水务", "其他")
"""What the call is about, as the service centre files it (a note on the case, a help for dispatch)."""
FIELDS = ("form_id", "caller", "name", "text", "category", "district", "location", "public",
          "reply", "reply_to", "reply_by", "answer", "kb_source")
"""``answer`` and ``kb_source``: a consultation answered on the call (咨询直办) and what it rests on;
``reply_by``: 答复形式 短信 (``sms``) or 电话 (``call``: a mobile is called when the site calls out)."""
DEFAULTS: dict[str, str] = {"public": "yes", "reply": "caller", "reply_by": "sms"}
EXTERNAL_ID_PREFIX = "console-"


class ConsoleFormErrors(Exception):
    """Every problem of one submission, by field, with what the agent typed (to show it again)."""

    def __init__(self, errors: dict[str, str], values: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.values = values


DISTRICT_HELP = "请选择列表中的区县（可输入名称或拼音，如 永泰 或 yongtai）"


def resolve_district(raw: str, districts: tuple[str, ...],
                     keys: dict[str, str] | None = None) -> str | None:
    """The district an agent meant: its name, the start of its name (永泰), or its word
    (yongtai); None when nothing or more than one district fits."""
    value = unicodedata.normalize("NFKC", raw).strip()
    if value in districts:
        return value
    lowered = value.lower()
    fits = [d for d in districts if value and (d.startswith(value) or (keys or {}).get(d) == lowered)]
    return fits[0] if len(fits) == 1 else None


def blank_values() -> dict[str, str]:
    """The fields of a fresh form: a new form id, the defaults, everything else empty."""
    values = {name: DEFAULTS.get(name, "") for name in FIELDS}
    values["form_id"] = str(uuid.uuid4())
    return values


def _phone(raw: str, field: str, errors: dict[str, str]) -> str | None:
    if not raw.strip():
        return None
    try:
        return normalise_phone(raw, field=field)
    except InvalidInput as exc:
        errors[field] = exc.message
        return None


def _reply_to(raw: str, errors: dict[str, str]) -> str | None:
    """Another phone number or an email address the citizen wants the answer at."""
    value = unicodedata.normalize("NFKC", raw).strip()
    if not value:
        errors["reply_to"] = "请填写答复用的号码或电子邮箱"
        return None
    if "@" in value:
        if not EMAIL.match(value):
            errors["reply_to"] = "电子邮箱格式不正确"
            return None
        return value
    return _phone(value, "reply_to", errors)


def parse_console_form(raw: Mapping[str, str], *, agent: str, received_at: datetime,
                       districts: tuple[str, ...], keys: dict[str, str] | None = None) -> Envelope:
    """Validate the call form; raise ``ConsoleFormErrors`` with every problem at once."""
    values = {name: str(raw.get(name, "") or "") for name in FIELDS}
    errors: dict[str, str] = {}
    try:
        form_id = str(uuid.UUID(values["form_id"]))
    except ValueError:
        errors["form"] = "表单已失效，请按“新来电”重新开始"
        form_id = ""
    cleaned: dict[str, str] = {}
    for name, limit, required in (("text", 5000, True), ("name", 50, False), ("location", 200, False)):
        try:
            cleaned[name] = clean_text(values[name], field=name, max_chars=limit, required=required)
        except InvalidInput as exc:
            errors[name] = exc.message
    caller = _phone(values["caller"], "caller", errors)
    if values["category"] not in CATEGORIES:
        errors["category"] = "请选择诉求类别"
    district = values["district"].strip()
    if district:
        found = resolve_district(district, districts, keys)
        if found is None:
            errors["district"] = DISTRICT_HELP
        else:
            district = values["district"] = found
    if values["public"] not in ("yes", "no"):
        errors["public"] = "请询问来电人是否同意公开"
    reply: str | None = None
    if values["reply"] == "other":
        reply = _reply_to(values["reply_to"], errors)
    elif values["reply"] == "caller":
        reply = caller
        if caller is None and "caller" not in errors:
            errors["caller"] = "请填写来电号码（短信答复发到此号码），或选择其他答复方式"
    else:
        errors["reply"] = "请选择答复方式"
    by_call = {"": False, "sms": False, "call": True}.get(values["reply_by"])
    if by_call is None:
        errors["reply_by"] = "请选择答复形式（短信或电话）"
    elif by_call and reply is not None and "@" in reply:
        errors["reply_by"] = "电话答复需要电话号码：请改选短信，或填写答复用的电话号码"
    if raw.get("consult") == "1":
        if not values["answer"].strip():
            errors["answer"] = "请填写向来电人解答的内容（可从知识库选用）"
        if not values["kb_source"].strip():
            errors["kb_source"] = "请从知识库选用一条，或注明解答的依据"
    if errors:
        raise ConsoleFormErrors(errors, values)
    alternatives = (caller,) if caller and reply != caller else ()
    return Envelope(
        channel=Channel.PHONE,
        external_id=EXTERNAL_ID_PREFIX + form_id,
        received_at=received_at,
        text=cleaned["text"],
        sender=caller,
        reply_address=reply,
        display_name=cleaned["name"] or None,
        public_allowed=values["public"] == "yes",
        district_hint=district or None,
        location_hint=cleaned["location"] or None,
        notes=(f"agent={agent}", f"category={values['category']}"),
        alt_reply_addresses=alternatives,
        reply_by_call=bool(by_call) if reply is not None and "@" not in reply else None,
        receipt_in_reply=True,
    )


def parse_transcription_fields(raw: Mapping[str, str], *, districts: tuple[str, ...],
                               keys: dict[str, str] | None = None) -> tuple[CallFields, dict[str, str]]:
    """A fax or voicemail gets a call's fields: the category (required, as on a call), the
    district and, optionally, a number or address to answer at besides the fax's own."""
    values = {name: str(raw.get(name, "") or "") for name in ("category", "district", "reply_to")}
    errors: dict[str, str] = {}
    if values["category"] not in CATEGORIES:
        errors["category"] = "请选择诉求类别"
    district = ""
    if values["district"].strip():
        district = resolve_district(values["district"], districts, keys) or ""
        if not district:
            errors["district"] = DISTRICT_HELP
    reply = _reply_to(values["reply_to"], errors) if values["reply_to"].strip() else None
    return CallFields(values["category"] if "category" not in errors else "", district,
                      reply or ""), errors
