"""Open311's two wire formats, byte for byte as the GeoReport v2 examples show them.

Every answer is built once as plain Python values (dicts, lists, strings,
numbers, booleans, None, datetimes) and written either way:

- JSON: UTF-8, not ASCII-escaped; None is ``null``.
- XML: ``<?xml version="1.0" encoding="utf-8"?>``, one element per field, a
  list as a wrapper element holding one child per item (``<attributes>`` →
  ``<attribute>``); None is an empty element (``<account_id/>``), booleans are
  ``true``/``false``, text is escaped by ElementTree.

Times are ISO 8601 (the w3 profile) with the city's offset, to the second:
``2026-12-02T10:00:00+08:00``. Errors are the specification's list of
``{"code", "description"}`` / ``<errors><error>…``.
https://wiki.open311.org/GeoReport_v2 (Format Support, Errors)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from aiohttp import web

FORMATS = ("json", "xml")
CONTENT_TYPES = {"json": "application/json", "xml": "text/xml"}
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'

#: A list field's XML wrapper → the element of each item.
ITEM_NAMES: dict[str, str] = {
    "endpoints": "endpoint", "formats": "format", "attributes": "attribute", "values": "value",
    "services": "service", "service_requests": "request", "errors": "error",
    "service_requests_updates": "request_update",
}


def w3c(moment: datetime, tz: ZoneInfo) -> str:
    """``moment`` in the city's zone, to the second, with its offset (never naive, never Z)."""
    return moment.astimezone(tz).isoformat(timespec="seconds")


def _scalar(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return w3c(value, tz)
    return value


def _plain(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, tz) for v in value]
    return _scalar(value, tz)


def _text(value: Any, tz: ZoneInfo) -> str | None:
    value = _scalar(value, tz)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any, tz: ZoneInfo) -> None:
    if isinstance(value, Mapping):
        for name, child in value.items():
            _fill(ET.SubElement(element, name), child, tz)
    elif isinstance(value, list | tuple):
        item = ITEM_NAMES[element.tag]
        for child in value:
            _fill(ET.SubElement(element, item), child, tz)
    else:
        element.text = _text(value, tz)


def to_json(value: Any, tz: ZoneInfo) -> bytes:
    return json.dumps(_plain(value, tz), ensure_ascii=False).encode("utf-8")


def to_xml(root: str, value: Any, tz: ZoneInfo) -> bytes:
    """``value`` under ``<root>``; a list at the root becomes its items (``<services><service>``)."""
    element = ET.Element(root)
    _fill(element, value, tz)
    body: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=False)
    return XML_DECLARATION + body


def render(fmt: str, root: str, value: Any, tz: ZoneInfo, *, status: int = 200,
           headers: Mapping[str, str] | None = None) -> web.Response:
    """One answer in ``fmt`` (``json`` or ``xml``); ``root`` names the XML document element."""
    body = to_json(value, tz) if fmt == "json" else to_xml(root, value, tz)
    return web.Response(body=body, status=status, content_type=CONTENT_TYPES[fmt],
                        charset="utf-8", headers=headers)


class Open311Error(Exception):
    """An answer in the specification's error format: HTTP status = the error's code."""

    def __init__(self, status: int, description: str, *,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = dict(headers or {})


def error_response(fmt: str, errors: Sequence[Open311Error], tz: ZoneInfo) -> web.Response:
    """``[{"code": 403, "description": "…"}]`` / ``<errors><error><code>403</code>…``;
    the HTTP status is the first error's code."""
    body = [{"code": e.status, "description": e.description} for e in errors]
    headers: dict[str, str] = {}
    for e in errors:
        headers.update(e.headers)
    return render(fmt if fmt in FORMATS else "xml", "errors", body, tz, status=errors[0].status,
                  headers=headers)
