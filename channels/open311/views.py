"""What the GET endpoints answer, as plain values ``wire`` writes as JSON or XML.

Pure functions over the settings and the ``PublicCase``s the port returned;
field names and order are GeoReport v2's, and a field we do not have is
``null`` (JSON) or an empty element (XML), as in the specification's examples.
Also the query parameters of GET requests and GET servicerequestupdates:
dates in ISO 8601 with an offset, lists comma-separated, at most
``max_range_days`` between the two dates.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from channels.open311.settings import Open311Settings, Service
from channels.open311.wire import CONTENT_TYPES, FORMATS, Open311Error
from contract.public_cases import CaseQuery, PublicCase, PublicUpdate

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_IDS = 100
STATUSES = {"open": False, "closed": True}


def discovery(settings: Open311Settings, base_url: str) -> dict[str, Any]:
    return {
        "changeset": settings.changeset,
        "contact": settings.contact,
        "key_service": settings.key_service,
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": f"{base_url}/open311/v2",
            "changeset": settings.changeset,
            "type": "production",
            "formats": [CONTENT_TYPES[f] for f in FORMATS],
        }],
    }


def service_list(settings: Open311Settings) -> list[dict[str, Any]]:
    return [{
        "service_code": s.code, "service_name": s.name, "description": s.description or None,
        "metadata": s.metadata, "type": "realtime", "keywords": ", ".join(s.keywords) or None,
        "group": s.group or None,
    } for s in settings.services]


def definition(service: Service) -> dict[str, Any]:
    return {"service_code": service.code, "attributes": [{
        "variable": a.variable, "code": a.code, "datatype": a.datatype, "required": a.required,
        "datatype_description": a.datatype_description, "order": a.order,
        "description": a.description,
        "values": [{"key": v.key, "name": v.name} for v in a.values],
    } for a in sorted(service.attributes, key=lambda a: a.order)]}


def _service_for(case: PublicCase, settings: Open311Settings) -> Service:
    """The case's service: by its category; items filed under none are ``other``'s (the last)."""
    return next((s for s in settings.services if s.category == case.category),
                settings.services[-1])


def request_view(case: PublicCase, settings: Open311Settings) -> dict[str, Any]:
    service = _service_for(case, settings)
    lat, long = case.position if case.position else (None, None)
    return {
        "service_request_id": case.number,
        "status": "closed" if case.closed else "open",
        "status_notes": case.answer,
        "service_name": service.name,
        "service_code": service.code,
        "description": case.summary,
        "agency_responsible": "、".join(case.agencies) or None,
        "service_notice": service.notice,
        "requested_datetime": case.requested_at,
        "updated_datetime": case.updated_at,
        "expected_datetime": case.expected_at,
        "address": case.address,
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": long,
        "media_url": None,
    }


def update_view(update: PublicUpdate) -> dict[str, Any]:
    """One step in the servicerequestupdates extension (FixMyStreet's Open311 updates)."""
    return {
        "update_id": update.update_id,
        "service_request_id": update.case_number,
        "status": "closed" if update.closed else "open",
        "updated_datetime": update.at,
        "description": update.description,
        "media_url": None,
    }


def parse_datetime(raw: str, name: str) -> datetime:
    """A w3c date-time with its zone (``Z`` or ``±HH:MM``); 400 otherwise."""
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise Open311Error(400, f"{name} must carry its time zone (Z or an offset such as +08:00)")
    return moment


def _list(query: Mapping[str, str], name: str) -> list[str]:
    items = [x.strip() for x in query.get(name, "").split(",") if x.strip()]
    if len(items) > MAX_IDS:
        raise Open311Error(400, f"{name}: at most {MAX_IDS} values")
    return items


def date_range(query: Mapping[str, str], settings: Open311Settings,
               now: datetime) -> tuple[datetime, datetime]:
    """start_date/end_date, defaulting to the last ``default_days``; 400 when reversed or
    wider than ``max_range_days``."""
    end = parse_datetime(query["end_date"], "end_date") if query.get("end_date") else None
    start = parse_datetime(query["start_date"], "start_date") if query.get("start_date") else None
    if end is None:
        end = max(now, start) if start is not None else now
    if start is None:
        start = end - timedelta(days=settings.default_days)
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    if end - start > timedelta(days=settings.max_range_days):
        raise Open311Error(400, f"start_date and end_date may span {settings.max_range_days} days "
                                "at most")
    return start, end


def case_query(query: Mapping[str, str], settings: Open311Settings, now: datetime) -> CaseQuery:
    """GET requests' filters as a ``CaseQuery``; ids given: the other filters are ignored
    (as the specification says)."""
    numbers = _list(query, "service_request_id")
    if numbers:
        return CaseQuery(numbers=tuple(numbers), limit=settings.max_results)
    codes = _list(query, "service_code")
    services = []
    for code in codes:
        service = settings.service(code)
        if service is None:
            raise Open311Error(404, f"service_code {code[:40]!r} was not found")
        services.append(service)
    statuses = _list(query, "status")
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise Open311Error(400, f"status must be open or closed, not {unknown[0][:20]!r}")
    wanted = {STATUSES[s] for s in statuses}
    start, end = date_range(query, settings, now)
    other = settings.services[-1]
    return CaseQuery(categories=tuple(s.category for s in services),
                     uncategorised=other in services,
                     closed=wanted.pop() if len(wanted) == 1 else None,
                     since=start, until=end, limit=settings.max_results)
