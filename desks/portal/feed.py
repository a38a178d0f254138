"""The Atom feed of published answers (issue 15.5, R9.3): ``/answers/feed.atom``.

Newsrooms, neighbourhood sites and the city's own portal follow answers the
way they follow news, optionally for one district (``?district=鼓楼区``) or one
unit (``?unit=city-urban``). A feed entry says exactly what ``/answers/{number}``
says and nothing more: the masked complaint, the masked answer, the units that
answered and the dates (``queries.public_answers`` is the only source), so the
feed can never publish what the pages do not.
"""

from __future__ import annotations

from datetime import datetime

import aiohttp_jinja2
from aiohttp import web

from desks.portal import queries

ENTRIES = 50
ATOM = "application/atom+xml"


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def feed_response(request: web.Request, items: list[queries.PublicAnswer], *, scope: str,
                  now: datetime) -> web.Response:
    """``items`` (newest first) as an Atom 1.0 document; ``scope`` names a district or unit."""
    base = f"{request.scheme}://{request.host}"
    updated = max((i.published_at for i in items), default=now)
    response = aiohttp_jinja2.render_template("portal_feed.atom", request, {
        "items": items, "base": base, "scope": scope, "updated": _stamp(updated), "stamp": _stamp,
        "self_url": f"{base}{request.path_qs}"})
    response.content_type = ATOM
    response.charset = "utf-8"
    return response
